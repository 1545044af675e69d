package stack_test

import (
	"context"
	"fmt"
	"log"
	"time"
)

// A UDP echo on the stack (ListenUDP, a net.PacketConn) and a client
// socket connected to it (DialUDP, a net.Conn).
func ExampleStack_ListenUDP() {
	server, client := twoStacks()
	defer server.Close()
	defer client.Close()

	srv, err := server.ListenUDP("udp", ":7")
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := srv.ReadFromUDPAddrPort(buf) // no allocation per datagram
			if err != nil {
				return // closed
			}
			srv.WriteToUDPAddrPort(buf[:n], from)
		}
	}()

	c, err := client.DialUDP(context.Background(), "udp", "198.18.0.2:7")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("hello over UDP"))
	buf := make([]byte, 100)
	n, err := c.Read(buf)
	fmt.Printf("%s %v\n", buf[:n], err)
	// Output: hello over UDP <nil>
}
