package stack_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/netip"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// twoStacks joins two stacks with tun's in-memory pipe: server at
// 198.18.0.2, client at 198.18.0.1. On a real system the server's link is a
// *tun.Device instead.
func twoStacks() (server, client *stack.Stack) {
	clock := timers.NewReal()
	a, b := tun.NewPipe(clock, 1500, tun.FaultConfig{}, tun.FaultConfig{})
	client, err := stack.New(a, stack.Options{Addr: netip.MustParseAddr("198.18.0.1"), Clock: clock})
	if err != nil {
		log.Fatal(err)
	}
	server, err = stack.New(b, stack.Options{Addr: netip.MustParseAddr("198.18.0.2"), Clock: clock})
	if err != nil {
		log.Fatal(err)
	}
	return server, client
}

// An HTTP server on the stack: Listen returns a net.Listener that
// net/http serves as it would a kernel socket.
func ExampleStack_Listen() {
	server, client := twoStacks()
	defer server.Close()
	defer client.Close()

	ln, err := server.Listen(":80")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from a userspace TCP stack, you are %s\n", r.RemoteAddr[:10])
	})}
	go srv.Serve(ln)
	defer srv.Close()

	// The client side dials through the other stack.
	hc := &http.Client{Transport: &http.Transport{DialContext: client.DialContext}}
	resp, err := hc.Get("http://198.18.0.2/")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	hc.CloseIdleConnections()
	fmt.Println(resp.Status)
	fmt.Print(string(body))
	// Output:
	// 200 OK
	// hello from a userspace TCP stack, you are 198.18.0.1
}

// A client dialing out: Dial returns a net.Conn.
func ExampleStack_Dial() {
	server, client := twoStacks()
	defer server.Close()
	defer client.Close()

	// An echo service (RFC 862) on the server stack.
	ln, err := server.Listen(":7")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()

	conn, err := client.Dial(context.Background(), "198.18.0.2:7")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprint(conn, "ping")
	conn.(*stack.Conn).CloseWrite() // half-close: the echo server sees EOF
	reply, err := io.ReadAll(conn)
	if err != nil {
		log.Fatal(err)
	}
	conn.Close()
	fmt.Printf("%s from %v\n", reply, conn.RemoteAddr())
	// Output:
	// ping from 198.18.0.2:7
}
