// Command simtable runs the netsim matrix (loss, reordering, RTT and
// bandwidth against each congestion control configuration) and writes the
// goodput table as markdown: `make simtable` regenerates docs/simtable.md.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/tunstack/tunstack/stack/tcp"
	"github.com/tunstack/tunstack/stack/tcp/internal/netsim"
)

// command is how the committed table is regenerated (written into it).
const command = "make simtable"

func main() {
	out := flag.String("o", "docs/simtable.md", "output file (- for stdout)")
	jobs := flag.Int("j", runtime.GOMAXPROCS(0), "cells simulated in parallel (each simulation is single-threaded and deterministic)")
	seeds := flag.Int("seeds", 3, "runs per cell with loss or reordering (seeds 1..N); the table shows the median")
	readme := flag.String("readme", "", "also put the first section's goodput table into this file, between the lines "+beginMark+" and "+endMark)
	only := flag.String("only", "", "debugging: run only the cells whose \"<cell> <configuration>\" matches this regexp, print each seed's full counters and write nothing")
	trace := flag.Duration("trace", 0, "with -only: also print the sender's congestion state every `interval` of simulated time")
	flag.Parse()
	if *only != "" {
		if err := debug(*only, *seeds, *trace); err != nil {
			fmt.Fprintln(os.Stderr, "simtable:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*out, *readme, *jobs, *seeds); err != nil {
		fmt.Fprintln(os.Stderr, "simtable:", err)
		os.Exit(1)
	}
}

func seedList(n int) []uint64 {
	seeds := make([]uint64, max(n, 1))
	for i := range seeds {
		seeds[i] = uint64(i + 1)
	}
	return seeds
}

// debug runs the matching cells one seed at a time and prints everything
// a run measured.
func debug(pattern string, nseeds int, trace time.Duration) error {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return err
	}
	for _, sec := range netsim.Matrix() {
		for _, c := range sec.Cells {
			for _, a := range netsim.Algos {
				name := c.String() + " " + a.Name
				if !re.MatchString(name) {
					continue
				}
				for _, seed := range seedList(nseeds) {
					t0 := time.Now()
					o := c.Options(a, netsim.DefaultBudget, seed)
					if trace > 0 {
						o.Trace, o.TraceEvery = printTrace, trace
					}
					r := netsim.Run(o)
					fmt.Printf("%s seed %d: %.2f Mbit/s, %d bytes in %v, done %v, err %v (%.2fs)\n  A->B %+v\n  B->A %+v\n  sender %+v\n  receiver %+v\n",
						name, seed, r.Goodput()/1e6, r.Delivered, r.Elapsed, r.Done, r.Err, time.Since(t0).Seconds(), r.AB, r.BA, r.Sender, r.Receiver)
				}
			}
		}
	}
	return nil
}

// printTrace prints one line of the sender's congestion state (-trace).
func printTrace(t time.Duration, i tcp.Info, ab netsim.LinkStats) {
	fmt.Printf("  t=%-8v cwnd=%-8d ssthresh=%-10d pipe=%-8d pacing=%.1fMbit/s srtt=%v minrtt=%v delivered=%d rtx=%d rto=%d recov=%v lossRTO=%v queue: drops=%d wait=%v\n",
		t.Round(time.Millisecond), i.Cwnd, i.Ssthresh, i.Pipe, float64(i.PacingRate)*8/1e6, i.SRTT.Round(time.Microsecond), i.MinRTT,
		i.Delivered, i.Retransmits, i.RTOExpiries, i.InRecovery, i.InLossRTO, ab.QueueDrops, ab.MeanWait().Round(time.Microsecond))
}

func run(out, readme string, jobs, nseeds int) error {
	start := time.Now()
	seeds := seedList(nseeds)
	t := &netsim.Table{Algos: netsim.Algos, Sections: netsim.Matrix(), Budget: netsim.DefaultBudget, Seeds: seeds, Command: command}
	type job struct{ s, c, a int }
	var work []job
	t.Rows = make([][]netsim.Row, len(t.Sections))
	for si, sec := range t.Sections {
		t.Rows[si] = make([]netsim.Row, len(sec.Cells))
		for ci, c := range sec.Cells {
			t.Rows[si][ci] = netsim.Row{Cell: c, Results: make([]netsim.Result, len(t.Algos))}
			for ai := range t.Algos {
				work = append(work, job{si, ci, ai})
			}
		}
	}
	ch := make(chan job)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for range max(jobs, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				row := &t.Rows[j.s][j.c]
				t0 := time.Now()
				res := row.Cell.RunMedian(t.Algos[j.a], t.Budget, seeds)
				row.Results[j.a] = res // each job writes its own element
				mu.Lock()
				done++
				fmt.Fprintf(os.Stderr, "[%d/%d] %s %s: %.1f Mbit/s done=%v rtx=%d rto=%d err=%v (%.2fs)\n",
					done, len(work), row.Cell, t.Algos[j.a].Name, res.Goodput()/1e6, res.Done,
					res.Sender.Retransmits, res.Sender.RTOExpiries, res.Err, time.Since(t0).Seconds())
				mu.Unlock()
			}
		}()
	}
	for _, j := range work {
		ch <- j
	}
	close(ch)
	wg.Wait()
	var b bytes.Buffer
	if err := t.WriteMarkdown(&b); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "simtable: %d runs in %.1fs\n", len(work), time.Since(start).Seconds())
	if readme != "" {
		var sum strings.Builder
		if err := t.WriteSummary(&sum); err != nil {
			return err
		}
		old, err := os.ReadFile(readme)
		if err != nil {
			return err
		}
		doc, err := splice(string(old), sum.String())
		if err != nil {
			return fmt.Errorf("%s: %w", readme, err)
		}
		if err := os.WriteFile(readme, []byte(doc), 0o644); err != nil {
			return err
		}
	}
	if out == "-" {
		_, err := os.Stdout.Write(b.Bytes())
		return err
	}
	return os.WriteFile(out, b.Bytes(), 0o644)
}

// The README's generated block lies between these two lines.
const (
	beginMark = "<!-- simtable:begin (make simtable writes this block) -->"
	endMark   = "<!-- simtable:end -->"
)

// splice replaces what lies between the marker lines of doc with block.
func splice(doc, block string) (string, error) {
	i := strings.Index(doc, beginMark+"\n")
	j := strings.Index(doc, "\n"+endMark)
	if i < 0 || j < i {
		return "", fmt.Errorf("no %q ... %q block", beginMark, endMark)
	}
	i += len(beginMark) + 1
	return doc[:i] + "\n" + block + doc[j:], nil
}
