package kernel

import (
	"context"
	"net"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/transport"

	"esa/kernel/bind"
)

// boundTCP is ZeroMQ's tcp transport, except that Listen first takes the
// socket package bind opened during program initialization for the address
// (see there for why), and that connections write whole messages at once
// (see zmtpConn).
type boundTCP struct{}

const boundScheme = "esa-tcp"

func init() {
	if err := zmq4.RegisterTransport(boundScheme, boundTCP{}); err != nil {
		panic(err) // only a second registration of the name can fail
	}
}

func (boundTCP) Dial(ctx context.Context, d transport.Dialer, addr string) (net.Conn, error) {
	return d.DialContext(ctx, "tcp", addr)
}

func (boundTCP) Listen(ctx context.Context, addr string) (net.Listener, error) {
	if f, ok := bind.Take(addr); ok {
		l, err := net.FileListener(f) // a duplicate of f's socket
		f.Close()
		if err == nil {
			return zmtpListener{l}, nil
		}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return zmtpListener{l}, nil
}

func (boundTCP) Addr(ep string) (string, error) {
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return "", err
	}
	if port == "*" || port == "" {
		port = "0"
	}
	if host == "" || host == "*" {
		host = "0.0.0.0"
	}
	return net.JoinHostPort(host, port), nil
}
