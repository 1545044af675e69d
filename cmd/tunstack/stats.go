package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"reflect"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/tunstack/tunstack/tun"
)

// The connection table (--stats, SIGUSR1) and the statistics printed at
// exit. Both are built by reflection over stack.Stats and stack.ConnInfo,
// so a counter the stack adds shows up here without a change: the output
// is for people (like `ss -ti` and `netstat -s`), not for parsing, except
// for the summary line, whose key=value fields the integration tests read.

// printTable writes a summary line and one entry per connection: the state
// and the two endpoints, then the engine's counters as key:value pairs on
// an indented line, as `ss -ti` does.
func (rt *runtime) printTable() {
	st := rt.stack.Stats()
	conns := rt.stack.Conns()
	w := bufio.NewWriter(rt.out)
	fmt.Fprintf(w, "%s connections=%d listeners=%d time_wait=%d time_wait_expired=%d segs_in=%d segs_out=%d retrans=%d rst_sent=%d dropped=%d\n",
		time.Now().Format("15:04:05.000000"), st.Conns, st.Listeners, st.TimeWait, st.TimeWaitExpired,
		st.SegmentsIn, st.SegmentsOut, st.Retransmissions, st.RSTsSent, st.Dropped.Total())
	if len(conns) > 0 {
		sort.Slice(conns, func(i, j int) bool { return addrLess(conns[i].RemoteAddr, conns[j].RemoteAddr) })
		fmt.Fprintf(w, "%-12s %-22s %s\n", "State", "Local", "Peer")
		for _, ci := range conns {
			fmt.Fprintf(w, "%-12s %-22s %s\n\t%s\n", ci.State, ci.LocalAddr, ci.RemoteAddr, infoFields(ci.Info))
		}
	}
	w.Flush()
}

func addrLess(a, b *net.TCPAddr) bool {
	if a == nil || b == nil {
		return b != nil
	}
	if c := strings.Compare(a.IP.String(), b.IP.String()); c != 0 {
		return c < 0
	}
	return a.Port < b.Port
}

// infoFields renders every field of the engine's per-connection info except
// the state and tuple (already on the first line), as key:value.
func infoFields(info any) string {
	var parts []string
	walkFields("", reflect.ValueOf(info), func(key string, v reflect.Value) {
		switch key {
		case "state", "tuple":
			return
		}
		if strings.HasPrefix(key, "tuple.") {
			return
		}
		parts = append(parts, key+":"+formatValue(v))
	})
	return strings.Join(parts, " ")
}

// printStats writes the stack-wide counters (and the fault injector's, if
// any), one per line, as at exit.
func (rt *runtime) printStats() {
	w := bufio.NewWriter(rt.out)
	fmt.Fprintln(w, "tunstack statistics:")
	walkFields("", reflect.ValueOf(rt.stack.Stats()), func(key string, v reflect.Value) {
		// Drop reasons that never happened are noise.
		if strings.HasPrefix(key, "dropped.") && v.IsZero() {
			return
		}
		fmt.Fprintf(w, "  %-28s %s\n", key, formatValue(v))
	})
	if rt.faults != nil {
		in, out := rt.faults.Stats()
		printFaultStats(w, "in", in)
		printFaultStats(w, "out", out)
	}
	w.Flush()
}

func printFaultStats(w io.Writer, dir string, s tun.Stats) {
	fmt.Fprintf(w, "  faults_%-21s sent=%d delivered=%d dropped=%d duplicated=%d reordered=%d\n",
		dir, s.Sent, s.Delivered, s.Dropped, s.Duplicated, s.Reordered)
}

// walkFields calls f for every exported leaf field of the struct v, nested
// structs flattened as parent.child, names in snake_case.
func walkFields(prefix string, v reflect.Value, f func(key string, v reflect.Value)) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		fv := v.Field(i)
		key := prefix + snake(sf.Name)
		if sf.Anonymous {
			key = strings.TrimSuffix(prefix, ".")
			if fv.Kind() == reflect.Struct {
				walkFields(prefix, fv, f)
				continue
			}
		}
		if fv.Kind() == reflect.Struct && !hasString(fv) {
			walkFields(key+".", fv, f)
			continue
		}
		f(key, fv)
	}
}

var stringerType = reflect.TypeFor[fmt.Stringer]()

func hasString(v reflect.Value) bool { return v.Type().Implements(stringerType) }

// formatValue prints durations with a sensible precision and everything
// else with %v.
func formatValue(v reflect.Value) string {
	if !v.CanInterface() {
		return "?"
	}
	switch x := v.Interface().(type) {
	case time.Duration:
		return x.Round(time.Microsecond).String()
	case time.Time:
		if x.IsZero() {
			return "-"
		}
		return x.Format("15:04:05.000")
	}
	return fmt.Sprint(v.Interface())
}

// snake turns Go names into snake_case: SRTT -> srtt, SndWnd -> snd_wnd,
// RSTsSent -> rsts_sent.
func snake(name string) string {
	var b strings.Builder
	r := []rune(name)
	for i, c := range r {
		if unicode.IsUpper(c) {
			prevLower := i > 0 && (unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1]))
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1]) && i > 0 && unicode.IsUpper(r[i-1])
			// "RSTsSent": the 's' after an acronym is a plural, not a new word.
			if nextLower && r[i+1] == 's' && (i+2 == len(r) || unicode.IsUpper(r[i+2])) {
				nextLower = false
			}
			if prevLower || nextLower {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(c))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}
