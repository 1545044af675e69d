package timers

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkShortTimerLateness measures how late a real clock runs a lone
// short timer: arm one, wait for its callback, b.N times; it reports the
// median and 99th percentile lateness (fired - due). The engine keeps its
// deadlines to the nanosecond (RACK's reordering window is 5 us on a 20 us
// path, stack/tcp/rack.go); this is how close to them the runtime gets on
// this machine: go test -run '^$' -bench ShortTimerLateness ./timers
func BenchmarkShortTimerLateness(b *testing.B) {
	for _, cc := range clockCases()[1:] {
		for _, d := range []time.Duration{20 * time.Microsecond, 100 * time.Microsecond, time.Millisecond} {
			b.Run(fmt.Sprintf("%s/%v", cc.name, d), func(b *testing.B) {
				c := cc.new()
				late := make([]time.Duration, 0, b.N)
				fired := make(chan time.Time, 1)
				f := func() { fired <- time.Now() }
				for i := 0; i < b.N; i++ {
					due := time.Now().Add(d)
					c.AfterFunc(d, f)
					late = append(late, (<-fired).Sub(due))
				}
				slices.Sort(late)
				b.ReportMetric(float64(late[len(late)/2].Microseconds()), "p50-late-us")
				b.ReportMetric(float64(late[len(late)*99/100].Microseconds()), "p99-late-us")
			})
		}
	}
}
