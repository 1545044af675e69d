package netsim

import (
	"fmt"
	"sort"
	"time"

	"github.com/tunstack/tunstack/stack/tcp"
)

// Algo is one configuration compared in the matrix (a column of the
// table): the congestion control algorithm, whether SACK is offered and
// whether RACK-TLP detects losses (with SACK only), set on both engines
// over tcp.DefaultConfig.
type Algo struct {
	Name string
	CC   string // Config.CongestionControl
	SACK bool   // Config.SACK
	RACK bool   // Config.RACK
}

// Apply sets a's fields in cfg.
func (a Algo) Apply(cfg *tcp.Config) {
	cfg.CongestionControl = a.CC
	cfg.SACK = a.SACK
	cfg.RACK = a.RACK
}

// Algos are the configurations of the matrix, in column order: NewReno
// alone (RFC 6582), with SACK-based recovery (RFC 6675, PRR), CUBIC with
// RACK-TLP (the default) and BBR (with SACK and RACK-TLP). One is added
// here only once the engine implements it (not merely has the Config
// field): TestSimMatrixSmoke checks the algorithm's name in Conn.Info and
// that the sender uses SACK and RACK exactly when the column says so.
var Algos = []Algo{
	{Name: "NewReno", CC: "newreno"},
	{Name: "NewReno+SACK", CC: "newreno", SACK: true},
	{Name: "CUBIC+RACK", CC: "cubic", SACK: true, RACK: true},
	{Name: "BBR", CC: "bbr", SACK: true, RACK: true},
}

// Cell is one simulated path (a row of the table), the same in both
// directions: RTT split evenly, a bottleneck of Rate with the default
// 50 ms drop-tail queue, independent random loss and reordering each way.
type Cell struct {
	Rate    int64 // bits per second
	RTT     time.Duration
	Loss    float64 // 0..1, each direction
	Reorder float64 // 0..1, each direction, held back DefaultReorderDelay
}

// Paths returns the cell's A->B and B->A paths; seed picks the loss and
// reordering draws (the two directions draw independently).
func (c Cell) Paths(seed uint64) (ab, ba Path) {
	ab = Path{Delay: c.RTT / 2, Rate: c.Rate, Loss: c.Loss, Reorder: c.Reorder, Seed: seed}
	ba = ab
	ba.Seed = seed ^ 0x5eed5eed
	return ab, ba
}

// Config returns the engines' configuration for this cell and algorithm:
// the defaults, with the limits of the send and receive buffers' auto-
// tuning (SendBufferMax, RecvBufferMax) raised to twice the path's
// bandwidth-delay product with a full queue if that is more (so the
// window, not a buffer, limits the sender), then the algorithm's changes.
func (c Cell) Config(a Algo) *tcp.Config {
	cfg := tcp.DefaultConfig()
	bdp2 := 2 * int(c.Rate/8*int64(c.RTT+DefaultQueue)/int64(time.Second))
	cfg.SendBufferMax = max(cfg.SendBufferMax, bdp2)
	cfg.RecvBufferMax = max(cfg.RecvBufferMax, tcp.DefaultRecvBufferMax, bdp2)
	a.Apply(&cfg)
	return &cfg
}

// Budget bounds one cell's run.
type Budget struct {
	// Seconds of the bottleneck rate give the bytes sent: Rate/8*Seconds,
	// at most MaxBytes.
	Seconds  float64
	MaxBytes int64
	// Limit is the simulated time after which the run stops, done or not.
	Limit time.Duration
}

func (b Budget) bytes(rate int64) int64 {
	return min(int64(float64(rate)/8*b.Seconds), b.MaxBytes)
}

// Run runs the transfer of this cell with algorithm a under budget b.
func (c Cell) Run(a Algo, b Budget, seed uint64) Result {
	return Run(c.Options(a, b, seed))
}

// Options returns the simulation Run runs for this cell, algorithm,
// budget and seed.
func (c Cell) Options(a Algo, b Budget, seed uint64) Options {
	ab, ba := c.Paths(seed)
	return Options{
		AB: ab, BA: ba, Config: c.Config(a),
		Bytes: b.bytes(c.Rate),
		Limit: b.Limit, Seed: seed,
	}
}

// RunMedian runs the cell with each seed and returns the run with the
// median goodput (the lower middle one for an even count). A cell without
// loss or reordering draws nothing at random, so it runs once.
func (c Cell) RunMedian(a Algo, b Budget, seeds []uint64) Result {
	if c.Loss == 0 && c.Reorder == 0 {
		seeds = seeds[:min(len(seeds), 1)]
	}
	rs := make([]Result, len(seeds))
	for i, s := range seeds {
		rs[i] = c.Run(a, b, s)
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Goodput() < rs[j].Goodput() })
	return rs[(len(rs)-1)/2]
}

// Section is a group of cells shown as one table.
type Section struct {
	Title string
	Cells []Cell
}

const mbit = 1_000_000

// Matrix is the table docs/simtable.md shows: loss x RTT at 100 Mbit/s;
// reordering at 100 Mbit/s; and a few cells at 1 Gbit/s.
func Matrix() []Section {
	losses := []float64{0, 0.001, 0.01, 0.03, 0.10}
	rtts := []time.Duration{100 * time.Microsecond, 10 * time.Millisecond, 40 * time.Millisecond, 200 * time.Millisecond}
	var lossRTT, reorder, gbit []Cell
	for _, rtt := range rtts {
		for _, l := range losses {
			lossRTT = append(lossRTT, Cell{Rate: 100 * mbit, RTT: rtt, Loss: l})
		}
		for _, l := range []float64{0, 0.01} {
			reorder = append(reorder, Cell{Rate: 100 * mbit, RTT: rtt, Loss: l, Reorder: 0.02})
		}
	}
	for _, rtt := range rtts[:3] {
		for _, l := range []float64{0, 0.001, 0.01} {
			gbit = append(gbit, Cell{Rate: 1000 * mbit, RTT: rtt, Loss: l})
		}
	}
	return []Section{
		{"100 Mbit/s, loss x RTT", lossRTT},
		{"100 Mbit/s, 2 % reordering (held back 2 ms) each way", reorder},
		{"1 Gbit/s", gbit},
	}
}

// DefaultBudget is the generator's: 5 s worth of the bottleneck rate, at
// most 256 MB (62.5 MB at 100 Mbit/s, 256 MB at 1 Gbit/s), stopped after
// 30 s of simulated time.
var DefaultBudget = Budget{Seconds: 5, MaxBytes: 256_000_000, Limit: 30 * time.Second}

func (c Cell) rateString() string {
	if c.Rate%(1000*mbit) == 0 {
		return fmt.Sprintf("%d Gbit/s", c.Rate/(1000*mbit))
	}
	return fmt.Sprintf("%d Mbit/s", c.Rate/mbit)
}

func pct(f float64) string { return fmt.Sprintf("%g %%", f*100) }

func ms(d time.Duration) string {
	return fmt.Sprintf("%g ms", float64(d)/float64(time.Millisecond))
}

// String names the cell, e.g. "100 Mbit/s rtt=40 ms loss=1 % reorder=0 %".
func (c Cell) String() string {
	return fmt.Sprintf("%s rtt=%s loss=%s reorder=%s", c.rateString(), ms(c.RTT), pct(c.Loss), pct(c.Reorder))
}
