package netsim

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack/tcp"
)

// A few small cells of the matrix for every configuration, byte-exact:
// every byte arrives once and in order, and both sides then close cleanly
// (TIME-WAIT included) with no timer left.
func TestSimMatrixSmoke(t *testing.T) {
	cells := []Cell{
		{Rate: 100 * mbit, RTT: 10 * time.Millisecond},
		{Rate: 100 * mbit, RTT: 100 * time.Microsecond, Loss: 0.10},
		{Rate: 100 * mbit, RTT: 40 * time.Millisecond, Loss: 0.03},
		{Rate: 100 * mbit, RTT: 10 * time.Millisecond, Loss: 0.01, Reorder: 0.02},
		{Rate: 1000 * mbit, RTT: 200 * time.Millisecond, Loss: 0.001},
	}
	const bytes = 1 << 20
	for _, a := range Algos {
		for _, c := range cells {
			ab, ba := c.Paths(3)
			r := Run(Options{AB: ab, BA: ba, Config: c.Config(a), Bytes: bytes, Close: true, Limit: time.Hour, Seed: 3})
			if r.Err != nil || !r.Done || r.Delivered != bytes {
				t.Errorf("%s %v: err %v, done %v, %d of %d bytes delivered", a.Name, c, r.Err, r.Done, r.Delivered, bytes)
				continue
			}
			if r.Sender.State != tcp.StateClosed || r.Receiver.State != tcp.StateClosed {
				t.Errorf("%s %v: finished in %v / %v", a.Name, c, r.Sender.State, r.Receiver.State)
			}
			if c.Loss > 0 && (r.AB.Lost == 0 || r.Sender.Retransmits < r.AB.Lost) {
				t.Errorf("%s %v: %d lost, %d retransmitted", a.Name, c, r.AB.Lost, r.Sender.Retransmits)
			}
			// A column is in effect, not merely configured: the
			// algorithm runs, and the sender uses the peer's SACK
			// blocks (with RACK-TLP) exactly when the column says so.
			if r.Sender.CongestionControl != a.CC {
				t.Errorf("%s %v: the sender ran %q", a.Name, c, r.Sender.CongestionControl)
			}
			if sack := r.Sender.SACKedBytes > 0 || r.Sender.SACKRecoveries > 0; c.Loss > 0 && sack != a.SACK {
				t.Errorf("%s %v: SACK %v, but %d bytes SACKed, %d SACK recoveries", a.Name, c, a.SACK, r.Sender.SACKedBytes, r.Sender.SACKRecoveries)
			}
			if rack := r.Sender.RACKLosses > 0 || r.Sender.TLPProbes > 0; c.Loss >= 0.01 && rack != (a.SACK && a.RACK) {
				t.Errorf("%s %v: SACK %v RACK %v, but RACK marked %d lost and TLP sent %d probes", a.Name, c, a.SACK, a.RACK, r.Sender.RACKLosses, r.Sender.TLPProbes)
			}
			t.Logf("%s %v: %.1f Mbit/s, %d retransmitted, %d RTOs", a.Name, c, r.Goodput()/mbit, r.Sender.Retransmits, r.Sender.RTOExpiries)
		}
	}
}

// The configurations are distinct, name registered algorithms and start
// with NewReno without SACK (the baseline).
func TestSimAlgos(t *testing.T) {
	seen := map[string]bool{}
	for _, a := range Algos {
		if seen[a.Name] {
			t.Fatalf("%s listed twice", a.Name)
		}
		seen[a.Name] = true
		if _, err := tcp.NewCongestionControl(a.CC); err != nil {
			t.Errorf("%s: %v", a.Name, err)
		}
		cfg := Cell{}.Config(a)
		if cfg.CongestionControl != a.CC || cfg.SACK != a.SACK || cfg.RACK != a.RACK {
			t.Errorf("%s: Config has %q SACK %v RACK %v", a.Name, cfg.CongestionControl, cfg.SACK, cfg.RACK)
		}
	}
	if a := Algos[0]; a.Name != "NewReno" || a.CC != "newreno" || a.SACK || a.RACK {
		t.Fatalf("the first column is %+v, want NewReno without SACK", a)
	}
}

func TestSimTableMarkdown(t *testing.T) {
	c := Cell{Rate: 100 * mbit, RTT: 40 * time.Millisecond, Loss: 0.01}
	tb := &Table{
		Algos:    []Algo{{Name: "X"}, {Name: "Y"}},
		Sections: []Section{{Title: "Some paths", Cells: []Cell{c}}},
		Rows: [][]Row{{{Cell: c, Results: []Result{
			{Delivered: 12_500_000, Elapsed: 2 * time.Second, Done: true, Sender: tcp.Info{Retransmits: 12, RTOExpiries: 3},
				AB: LinkStats{Packets: 10, Lost: 2, QueueDrops: 3, QueueWait: 25 * time.Millisecond}},
			{Delivered: 1_000_000, Elapsed: 8 * time.Second, Err: errors.New("boom")},
		}}}},
		Budget: DefaultBudget, Seeds: []uint64{1}, Command: "make simtable",
	}
	var b strings.Builder
	if err := tb.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"`make simtable`",
		"## Some paths",
		"| RTT | loss | X | Y |",
		"| 40 ms | 1 % | 50.0 | error |",
		"| 40 ms | 1 % | 12 / 3 / 5.0 | 0 / 0 / 0.0 |",
		"## Failed runs\n\n- 100 Mbit/s rtt=40 ms loss=1 % reorder=0 %, Y: boom",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
}
