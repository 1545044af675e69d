package tun_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"

	"github.com/songgao/water"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/tun"
)

// A program that already opens its TUN device with
// github.com/songgao/water hands the *water.Interface to the stack through
// Adapt. Not run by go test: it needs root and a device.
//
// Persist: true matters when attaching to an existing persistent device
// (`ip tuntap add dev tun0 mode tun`): water always issues TUNSETPERSIST,
// and with the zero value it clears the flag, so the kernel would delete
// the device when the program exits.
func ExampleAdapt_water() {
	ifce, err := water.New(water.Config{
		DeviceType:             water.TUN,
		PlatformSpecificParams: water.PlatformSpecificParams{Name: "tun0", Persist: true},
	})
	if err != nil {
		log.Fatal(err)
	}
	iface, err := net.InterfaceByName(ifce.Name())
	if err != nil {
		log.Fatal(err)
	}
	link, err := tun.Adapt(ifce, iface.MTU) // water cannot tell the MTU
	if err != nil {
		log.Fatal(err)
	}
	s, err := stack.New(link, stack.Options{Addr: netip.MustParseAddr("198.18.0.2")})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close() // closes link and ifce; the persistent tun0 stays

	ln, err := s.Listen(":80")
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello over water")
	})))
}

// Any packet ReadWriteCloser will do: here two stacks talk through a pair
// of connected UDP sockets on loopback, one IP packet per datagram.
func ExampleAdapt() {
	ua, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		log.Fatal(err)
	}
	ub, err := net.DialUDP("udp4", nil, ua.LocalAddr().(*net.UDPAddr))
	if err != nil {
		log.Fatal(err)
	}
	// Connect ua back to ub so that both are plain ReadWriteClosers.
	ua.Close()
	ua, err = net.DialUDP("udp4", ua.LocalAddr().(*net.UDPAddr), ub.LocalAddr().(*net.UDPAddr))
	if err != nil {
		log.Fatal(err)
	}
	la, err := tun.Adapt(ua, 1500)
	if err != nil {
		log.Fatal(err)
	}
	lb, err := tun.Adapt(ub, 1500)
	if err != nil {
		log.Fatal(err)
	}
	server, err := stack.New(la, stack.Options{Addr: netip.MustParseAddr("198.18.0.2")})
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	client, err := stack.New(lb, stack.Options{Addr: netip.MustParseAddr("198.18.0.1")})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	ln, err := server.Listen(":7")
	if err != nil {
		log.Fatal(err)
	}
	go func() { // echo one connection
		c, err := ln.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	c, err := client.Dial(context.Background(), "198.18.0.2:7")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprint(c, "one packet per datagram")
	c.(*stack.Conn).CloseWrite()
	reply, err := io.ReadAll(c)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(reply))
	// Output: one packet per datagram
}
