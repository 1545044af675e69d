package tcp

import "time"

// HardError applies an ICMP destination unreachable with code 2 or 3
// (protocol or port unreachable) quoting a segment of this connection:
// "These are hard error conditions, so TCP SHOULD abort the connection"
// (RFC 1122 4.2.3.9). As Linux does, a connection still opening (SYN-SENT,
// SYN-RECEIVED) is aborted at once with err (ECONNREFUSED for a port
// unreachable), sending nothing; a synchronized one only records err as a
// soft error, since RFC 5461 4 explains why aborting established
// connections on such messages does more harm than good. It reports
// whether the connection was aborted.
func (c *Conn) HardError(now time.Time, err error) bool {
	switch c.state {
	case StateSynSent, StateSynReceived:
		c.close(now, err, nil)
		return true
	}
	c.SoftError(err)
	return false
}
