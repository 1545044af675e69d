package timers

import (
	"math/rand"
	"testing"
	"time"
)

// checkQueue verifies the 4-ary heap property, the intrusive indexes and the
// lazy-key invariant (key <= deadline) of every queued entry.
func checkQueue(t *testing.T, q *queue) {
	t.Helper()
	for i := range q.h {
		s := &q.h[i]
		e := s.e
		if int(e.index) != i {
			t.Fatalf("entry at %d has index %d", i, e.index)
		}
		if i > 0 && s.less(&q.h[(i-1)/4]) {
			t.Fatalf("heap property broken at %d", i)
		}
		if e.at < s.when || (e.at == s.when && e.aseq < s.seq) {
			t.Fatalf("key (%d,%d) after deadline (%d,%d)", s.when, s.seq, e.at, e.aseq)
		}
	}
}

type nopOwner struct{}

func (nopOwner) stop(*entry) bool                 { return false }
func (nopOwner) reset(*entry, time.Duration) bool { return false }

func TestQueueRandomOps(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	var q queue
	es := make([]*entry, 500)
	for i := range es {
		es[i] = &entry{index: -1, owner: nopOwner{}}
	}
	queued := map[*entry]bool{}
	now := int64(0)
	for step := 0; step < 20000; step++ {
		e := es[rng.Intn(len(es))]
		switch rng.Intn(4) {
		case 0, 1:
			if got := q.schedule(e, now+rng.Int63n(1000)); got != queued[e] {
				t.Fatalf("schedule reported %v, want %v", got, queued[e])
			}
			queued[e] = true
		case 2:
			if got := q.remove(e); got != queued[e] {
				t.Fatalf("remove reported %v, want %v", got, queued[e])
			}
			delete(queued, e)
		case 3:
			now += rng.Int63n(50)
			var last *entry
			for {
				p := q.popDue(now)
				if p == nil {
					break
				}
				if p.at > now {
					t.Fatalf("popped deadline %d > now %d", p.at, now)
				}
				if last != nil && (p.at < last.at || (p.at == last.at && p.aseq < last.aseq)) {
					t.Fatalf("popped out of order")
				}
				if !queued[p] || p.index != -1 {
					t.Fatalf("popped an entry that was not queued or kept its index")
				}
				delete(queued, p)
				last = p
			}
			if tp := q.settleTop(); tp != nil && tp.at <= now {
				t.Fatalf("a due entry was left")
			}
		}
		if q.len() != len(queued) {
			t.Fatalf("len %d, want %d", q.len(), len(queued))
		}
		checkQueue(t, &q)
	}
}
