package stack_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// A transparent proxy: the proxy stack takes connections to any address
// (Options.TransparentPrefixes), connects upstream for each before the
// client's handshake completes, then accepts and relays, or refuses the
// way the upstream refused. Here the client is a second stack on the
// in-memory pipe and the upstream a kernel socket on loopback; in a real
// proxy the link is the TUN device everything is routed into, and the
// handler dials r.Destination() itself.
func ExampleStack_SetTCPForwarder() {
	clock := timers.NewReal()
	a, b := tun.NewPipe(clock, 1500, tun.FaultConfig{}, tun.FaultConfig{})
	client, err := stack.New(a, stack.Options{Addr: netip.MustParseAddr("198.18.0.1"), Clock: clock})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	proxy, err := stack.New(b, stack.Options{
		Addr:                netip.MustParseAddr("198.18.0.2"),
		Clock:               clock,
		TransparentPrefixes: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer proxy.Close()

	// The "upstream": an echo server on the kernel's loopback.
	upstream, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer upstream.Close()
	go func() {
		for {
			c, err := upstream.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	dialUpstream := func(ctx context.Context, dst netip.AddrPort) (net.Conn, error) {
		if dst.Port() != 80 {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("refused: %w", errRefused)}
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", upstream.Addr().String()) // a real proxy: dst.String()
	}

	// The handler runs on the stack's input goroutine: it starts a
	// goroutine, which answers within TCPForwarderConfig.PendingTimeout.
	proxy.SetTCPForwarder(func(r *stack.TCPRequest) {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			up, err := dialUpstream(ctx, r.Destination())
			if err != nil {
				r.Refuse(stack.RefusalFor(err)) // RST, or ICMP unreachable/prohibited
				return
			}
			c, err := r.Accept()
			if err != nil {
				up.Close()
				return
			}
			fmt.Println("proxy: accepted from", r.Source().Addr(), "to", c.LocalAddr())
			go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
			io.Copy(c, up)
			c.Close()
		}()
	}, stack.TCPForwarderConfig{})

	c, err := client.Dial(context.Background(), "203.0.113.7:80")
	if err != nil {
		log.Fatal(err)
	}
	c.Write([]byte("hello"))
	c.(*stack.Conn).CloseWrite()
	reply, _ := io.ReadAll(c)
	c.Close()
	fmt.Printf("client: %q from %v\n", reply, c.RemoteAddr())

	_, err = client.Dial(context.Background(), "203.0.113.7:81")
	fmt.Println("client: port 81 refused:", errors.Is(err, syscall.ECONNREFUSED))
	// Output:
	// proxy: accepted from 198.18.0.1 to 203.0.113.7:80
	// client: "hello" from 203.0.113.7:80
	// client: port 81 refused: true
}

var errRefused = syscall.ECONNREFUSED
