package tcp_test

import (
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLossyPipeShapes runs the two-engine simulation, under the progress
// watchdog, in the shapes of issue 8 section 2's wedge: loss of 1-10 %,
// often different in each direction; phases in which both applications
// stop reading, so windows close and must reopen through window updates
// and zero-window probes that the loss may eat; small receive buffers, so
// the window closes even while the reader keeps up. LOSSY_SEEDS=first-last
// (e.g. 1-5000) widens the hunt; by default 200 seeds (40 with -short).
func TestLossyPipeShapes(t *testing.T) {
	first, last := int64(1), int64(200)
	if testing.Short() {
		last = 40
	}
	if env := os.Getenv("LOSSY_SEEDS"); env != "" {
		var err error
		if first, last, err = parseSeedRange(env); err != nil {
			t.Fatalf("LOSSY_SEEDS=%q: %v", env, err)
		}
	}
	var worst time.Duration
	for seed := first; seed <= last; seed++ {
		p := shapeParams(seed, 128<<10)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := newLossyRun(p)
			if err := r.run(); err != nil {
				t.Fatalf("%v lossBA=%.0f%% pause=%v\n%v\nreproduce: LOSSY_SEEDS=%d-%d go test ./stack/tcp -run 'TestLossyPipeShapes/seed=%d$' -v",
					p, p.lossBA*100, p.pause, err, seed, seed, seed)
			}
			worst = max(worst, r.longestStall())
		})
	}
	t.Logf("seeds %d-%d: longest stall with outstanding data %v", first, last, worst)
}

// shapeParams derives a run from the seed (as paramsFor does).
func shapeParams(seed int64, streamLen int) lossyParams {
	r := rand.New(rand.NewSource(seed * 104729))
	p := paramsFor(seed, streamLen)
	p.loss = float64(1+r.Intn(10)) / 100
	if r.Intn(2) == 0 {
		p.lossBA = float64(1+r.Intn(10)) / 100
	}
	p.rcvBuf = []int{4 << 10, 8 << 10, 16 << 10, 64 << 10}[r.Intn(4)]
	p.pause = []time.Duration{0, 50 * time.Millisecond, 300 * time.Millisecond, 2 * time.Second}[r.Intn(4)]
	return p
}

func parseSeedRange(s string) (first, last int64, err error) {
	a, b, ok := strings.Cut(s, "-")
	if first, err = strconv.ParseInt(a, 10, 64); err != nil {
		return 0, 0, err
	}
	last = first
	if ok {
		if last, err = strconv.ParseInt(b, 10, 64); err != nil {
			return 0, 0, err
		}
	}
	if last < first {
		return 0, 0, fmt.Errorf("empty range")
	}
	return first, last, nil
}
