//go:build linux

package tun

import (
	"encoding/binary"
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// A little rtnetlink (RFC 3549; include/uapi/linux/rtnetlink.h): one
// request at a time on a fresh NETLINK_ROUTE socket, which is all
// configuring a device needs.

// nlSeq is the sequence number of every request: each has its own socket.
const nlSeq = 1

// nlRequest writes a struct nlmsghdr for a request of type typ with extra
// flags (NLM_F_REQUEST|NLM_F_ACK are always set) and bodyLen bytes of body
// into buf, and returns the message, buf[:16+bodyLen], body zeroed.
func nlRequest(buf []byte, typ, flags uint16, bodyLen int) []byte {
	msg := buf[:unix.SizeofNlMsghdr+bodyLen]
	clear(msg)
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], typ)
	ne.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK|flags)
	ne.PutUint32(msg[8:], nlSeq)
	return msg
}

// putRtAttr writes a struct rtattr of type typ holding data at the start
// of b. len(data) must be a multiple of 4 (addresses are).
func putRtAttr(b []byte, typ uint16, data []byte) {
	binary.NativeEndian.PutUint16(b[0:], uint16(unix.SizeofRtAttr+len(data)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[unix.SizeofRtAttr:], data)
}

// rtnetlink sends the request msg (from nlRequest) and reads the kernel's
// answer up to its acknowledgment, handing every other message of the
// answer to each (if not nil) with its type and body. It returns the
// errno the kernel answered with (nil for success).
func rtnetlink(msg []byte, each func(typ uint16, body []byte)) error {
	s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	tv := unix.NsecToTimeval(int64(5 * time.Second))
	if err := unix.SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	if err := unix.Bind(s, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	if err := unix.Sendto(s, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	ne := binary.NativeEndian
	var rbuf [8192]byte
	for {
		n, _, err := unix.Recvfrom(s, rbuf[:], 0)
		if err != nil {
			return err
		}
		r := rbuf[:n]
		for len(r) >= unix.SizeofNlMsghdr {
			l := int(ne.Uint32(r[0:]))
			if l < unix.SizeofNlMsghdr || l > len(r) {
				return errors.New("malformed netlink reply")
			}
			typ := ne.Uint16(r[4:])
			if ne.Uint32(r[8:]) == nlSeq {
				if typ == unix.NLMSG_ERROR {
					if l < unix.SizeofNlMsghdr+4 {
						return errors.New("short netlink error message")
					}
					if code := int32(ne.Uint32(r[unix.SizeofNlMsghdr:])); code != 0 {
						return unix.Errno(-code)
					}
					return nil
				}
				if each != nil {
					each(typ, r[unix.SizeofNlMsghdr:l])
				}
			}
			if l = (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1); l > len(r) {
				break
			}
			r = r[l:]
		}
	}
}
