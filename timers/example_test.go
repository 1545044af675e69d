package timers_test

import (
	"fmt"
	"time"

	"github.com/tunstack/tunstack/timers"
)

// A retransmission timer driven by a Manual clock: no sleeping, exact times.
func ExampleManual() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := timers.NewManual(start)
	rto := timers.NewRTOEstimator(timers.RTOConfig{})

	var rtx timers.Timer
	rtx = clk.AfterFunc(rto.RTO(), func() {
		fmt.Println("retransmit at", clk.Now().Sub(start))
		rto.Backoff() // RFC 6298 5.5
		if rto.Backoffs() < 3 {
			rtx.Reset(rto.RTO())
		}
	})
	clk.Advance(time.Minute)
	fmt.Println("pending:", clk.Pending())
	// Output:
	// retransmit at 1s
	// retransmit at 3s
	// retransmit at 7s
	// pending: 0
}
