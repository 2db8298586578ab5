// Command goro-peer-go runs the workloads of docs/workloads.md on the Go
// runtime, the model goro follows. Standard library only.
//
//	GOMAXPROCS=2 goro-peer-go <workload>|all|list [n]
//
// Each workload prints
//
//	workload=<name> p=<P> n=<n> seconds=<wall> metric=<value> unit=<unit> check=ok
//
// and, for some, a second line beginning with "# workload=". A wrong result
// prints check=FAIL and the exit status is 1.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// outcome is what a workload measured and whether its result was right.
type outcome struct {
	n       int64
	elapsed time.Duration
	metric  float64
	unit    string
	ok      bool
	note    string // the "# workload=..." line, if any
	why     string // what was wrong, when !ok
}

type spec struct {
	name     string
	defaultN int64
	minN     int64 // smallest usable n
	run      func(n int64) outcome
}

// Sizes of the fixed crowds the definitions name.
const (
	crowd       = 1000 // goroutines in yield and mutex
	side        = 4    // producers, and consumers, in the mpmc workloads
	echoClients = 100
	echoBytes   = 64
	timerLead   = 400 * time.Millisecond
	timerWindow = 100 * time.Millisecond
)

var specs = []spec{
	{"spawn_join", 1_000_000, 1, spawnJoin},
	{"skynet", 1_000_000, 1, skynet},
	{"pingpong", 1_000_000, 1, pingpong},
	{"yield", 10_000_000, crowd, yieldMany},
	{"chan_mpmc", 10_000_000, side, func(n int64) outcome { return mpmc(n, 1024) }},
	{"chan_unbuffered_mpmc", 2_000_000, side, func(n int64) outcome { return mpmc(n, 0) }},
	{"mutex", 10_000_000, crowd, mutexCrowd},
	{"fib", 27, 1, fib}, // n is k; the line reports the number of spawns
	{"timers", 100_000, 1, timers},
	{"parked_memory", 1_000_000, 1, parkedMemory},
	{"echo", 1_000_000, echoClients, echo},
	{"pool", 1_000_000, 1, pool},
}

func perOp(d time.Duration, n int64) float64 { return float64(d.Nanoseconds()) / float64(n) }

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func spawnJoin(n int64) outcome {
	var counter int64
	var wg sync.WaitGroup
	wg.Add(int(n))
	start := time.Now()
	for i := int64(0); i < n; i++ {
		go func() {
			atomic.AddInt64(&counter, 1)
			wg.Done()
		}()
	}
	wg.Wait()
	d := time.Since(start)
	got := atomic.LoadInt64(&counter)
	return outcome{n: n, elapsed: d, metric: perOp(d, n), unit: "ns/fiber", ok: got == n,
		why: fmt.Sprintf("counter %d, want %d", got, n)}
}

// skynetTree sends to out the sum of num .. num+size-1, computed by a tree
// of goroutines ten wide.
func skynetTree(out chan<- int64, num, size int64) {
	if size == 1 {
		out <- num
		return
	}
	kids := make(chan int64, 10)
	step := size / 10
	for i := int64(0); i < 10; i++ {
		go skynetTree(kids, num+i*step, step)
	}
	var sum int64
	for i := 0; i < 10; i++ {
		sum += <-kids
	}
	out <- sum
}

func skynet(n int64) outcome {
	for m := n; m != 1; m /= 10 {
		if m%10 != 0 {
			return outcome{n: n, why: "skynet needs a power of 10"}
		}
	}
	root := make(chan int64, 1)
	start := time.Now()
	go skynetTree(root, 0, n)
	sum := <-root
	d := time.Since(start)
	want := n * (n - 1) / 2
	return outcome{n: n, elapsed: d, metric: ms(d), unit: "ms", ok: sum == want,
		why: fmt.Sprintf("sum %d, want %d", sum, want)}
}

func pingpong(n int64) outcome {
	there, back := make(chan int64), make(chan int64)
	result := make(chan int64, 1)
	start := time.Now()
	go func() {
		var x int64
		for i := int64(0); i < n; i++ {
			there <- x
			x = <-back + 1
		}
		result <- x
	}()
	go func() {
		for i := int64(0); i < n; i++ {
			back <- <-there + 1
		}
	}()
	x := <-result
	d := time.Since(start)
	return outcome{n: n, elapsed: d, metric: perOp(d, n), unit: "ns/roundtrip", ok: x == 2*n,
		why: fmt.Sprintf("final value %d, want %d", x, 2*n)}
}

func yieldMany(n int64) outcome {
	each := n / crowd
	var yields int64
	var wg sync.WaitGroup
	wg.Add(crowd)
	start := time.Now()
	for g := 0; g < crowd; g++ {
		go func() {
			defer wg.Done()
			var k int64
			for ; k < each; k++ {
				runtime.Gosched()
			}
			atomic.AddInt64(&yields, k)
		}()
	}
	wg.Wait()
	d := time.Since(start)
	want := each * crowd
	got := atomic.LoadInt64(&yields)
	return outcome{n: want, elapsed: d, metric: perOp(d, want), unit: "ns/yield", ok: got == want,
		why: fmt.Sprintf("%d yields, want %d", got, want)}
}

// mpmc: producer p sends p*q+1 .. p*q+q, so the consumers' sums add up to
// the sum of 1 .. 4q.
func mpmc(n int64, capacity int) outcome {
	q := n / side
	total := q * side
	ch := make(chan int64, capacity)
	var sum int64
	var producers, consumers sync.WaitGroup
	producers.Add(side)
	consumers.Add(side)
	start := time.Now()
	for c := 0; c < side; c++ {
		go func() {
			defer consumers.Done()
			var s int64
			for v := range ch {
				s += v
			}
			atomic.AddInt64(&sum, s)
		}()
	}
	for p := int64(0); p < side; p++ {
		go func(first int64) {
			defer producers.Done()
			for v := first; v < first+q; v++ {
				ch <- v
			}
		}(p*q + 1)
	}
	producers.Wait()
	close(ch)
	consumers.Wait()
	d := time.Since(start)
	want := total * (total + 1) / 2
	got := atomic.LoadInt64(&sum)
	return outcome{n: total, elapsed: d, metric: float64(total) / d.Seconds() / 1e6, unit: "Mmsg/s",
		ok: got == want, why: fmt.Sprintf("sum %d, want %d", got, want)}
}

func mutexCrowd(n int64) outcome {
	each := n / crowd
	var mu sync.Mutex
	counter := int64(0) // guarded by mu
	var wg sync.WaitGroup
	wg.Add(crowd)
	start := time.Now()
	for g := 0; g < crowd; g++ {
		go func() {
			defer wg.Done()
			for i := int64(0); i < each; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	want := each * crowd
	mu.Lock()
	got := counter
	mu.Unlock()
	return outcome{n: want, elapsed: d, metric: perOp(d, want), unit: "ns/op", ok: got == want,
		why: fmt.Sprintf("counter %d, want %d", got, want)}
}

// forkFib computes fib(k) with a goroutine for fib(k-1) at every k >= 2.
func forkFib(k int64) int64 {
	if k < 2 {
		return k
	}
	child := make(chan int64, 1)
	go func() { child <- forkFib(k - 1) }()
	mine := forkFib(k - 2)
	return mine + <-child
}

func loopFib(k int64) int64 {
	a, b := int64(0), int64(1)
	for ; k > 0; k-- {
		a, b = b, a+b
	}
	return a
}

func fib(k int64) outcome {
	if k > 40 {
		return outcome{why: "fib: k > 40 would run for too long"}
	}
	start := time.Now()
	got := forkFib(k)
	d := time.Since(start)
	want := loopFib(k)
	spawns := loopFib(k+1) - 1 // internal nodes of a tree with fib(k+1) leaves
	return outcome{n: spawns, elapsed: d, metric: ms(d), unit: "ms", ok: got == want,
		why:  fmt.Sprintf("fib(%d) = %d, want %d", k, got, want),
		note: fmt.Sprintf("# workload=fib k=%d result=%d spawns=%d", k, got, spawns)}
}

// splitmix64 is the generator every peer draws the timer offsets from.
func splitmix64(state *uint64) uint64 {
	*state += 0x9E3779B97F4A7C15
	z := *state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// quantile returns the smallest sample with at least fraction p of the
// samples at or below it.
func quantile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p + 0.999999999)
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}

// timers: the sleepers are all spawned and blocked on a barrier before T0 is
// chosen, so neither spawning nor the barrier's wake-up is measured. Each
// records when it called Sleep (after T0 makes the run invalid) and how late
// it woke.
func timers(n int64) outcome {
	seed := uint64(12345)
	offset := make([]time.Duration, n)
	for i := range offset {
		offset[i] = time.Duration(splitmix64(&seed) % uint64(timerWindow))
	}
	armed := make([]time.Duration, n) // call of Sleep, relative to T0
	late := make([]int64, n)
	var ready, done sync.WaitGroup
	ready.Add(int(n))
	done.Add(int(n))
	barrier := make(chan struct{})
	var t0 time.Time // written before close(barrier), read after it
	for i := range offset {
		go func(i int) {
			defer done.Done()
			ready.Done()
			<-barrier
			deadline := t0.Add(offset[i])
			armed[i] = time.Since(t0)
			time.Sleep(time.Until(deadline))
			late[i] = int64(time.Since(deadline))
		}(i)
	}
	ready.Wait()
	t0 = time.Now().Add(timerLead)
	close(barrier)
	done.Wait()
	d := time.Since(t0)
	o := outcome{n: n, elapsed: d, unit: "us_p99_late", ok: true}
	lastArmed := armed[0]
	for _, a := range armed {
		if a > lastArmed {
			lastArmed = a
		}
	}
	if lastArmed > 0 {
		o.ok, o.why = false, fmt.Sprintf("the last sleeper called Sleep %v after T0: the run is invalid", lastArmed)
	}
	for i, l := range late {
		if l < 0 {
			o.ok, o.why = false, fmt.Sprintf("sleeper %d woke %d ns early", i, -l)
			break
		}
	}
	sort.Slice(late, func(a, b int) bool { return late[a] < late[b] })
	us := func(v int64) float64 { return float64(v) / 1e3 }
	o.metric = us(quantile(late, 0.99))
	o.note = fmt.Sprintf("# workload=timers total_ms=%.1f p50_late_us=%.1f p99_late_us=%.1f max_late_us=%.1f last_armed_ms_before_t0=%.1f",
		ms(d), us(quantile(late, 0.50)), o.metric, us(late[len(late)-1]), -ms(lastArmed))
	return o
}

func residentBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		f := strings.Fields(sc.Text()) // "VmRSS:", value, "kB"
		if len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				fatal(err)
			}
			return kb * 1024
		}
	}
	fatal(fmt.Errorf("no VmRSS in /proc/self/status"))
	return 0
}

func parkedMemory(n int64) outcome {
	debug.FreeOSMemory() // return what earlier workloads of an "all" run left
	before := residentBytes()
	inbox := make([]chan int64, n)
	for i := range inbox {
		inbox[i] = make(chan int64)
	}
	debug.FreeOSMemory()
	base := residentBytes()
	var started, sum int64
	var wg sync.WaitGroup
	wg.Add(int(n))
	start := time.Now()
	for _, c := range inbox {
		go func(c chan int64) {
			defer wg.Done()
			atomic.AddInt64(&started, 1)
			atomic.AddInt64(&sum, <-c)
		}(c)
	}
	for atomic.LoadInt64(&started) < n {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // the last ones counted themselves; let them reach the receive
	parked := residentBytes()
	for i, c := range inbox {
		c <- int64(i) + 1
	}
	wg.Wait()
	d := time.Since(start)
	want := n * (n + 1) / 2
	got := atomic.LoadInt64(&sum)
	return outcome{n: n, elapsed: d, metric: float64(parked-base) / float64(n), unit: "bytes/fiber",
		ok: got == want, why: fmt.Sprintf("sum %d, want %d", got, want),
		note: fmt.Sprintf("# workload=parked_memory rss_before_channels=%d rss_baseline=%d rss_parked=%d channel_bytes_each=%.1f",
			before, base, parked, float64(base-before)/float64(n))}
}

func echo(n int64) outcome {
	each := n / echoClients
	total := each * echoClients
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return outcome{n: total, why: err.Error()}
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, echoBytes)
				for {
					if _, err := io.ReadFull(c, buf); err != nil {
						return
					}
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	conns := make([]net.Conn, echoClients)
	for i := range conns {
		if conns[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
			return outcome{n: total, why: err.Error()}
		}
		defer conns[i].Close()
	}
	lat := make([]int64, total)
	var bad int64
	var wg sync.WaitGroup
	wg.Add(echoClients)
	start := time.Now()
	for c := range conns {
		go func(c int) {
			defer wg.Done()
			msg, reply := make([]byte, echoBytes), make([]byte, echoBytes)
			for i := int64(0); i < each; i++ {
				for k := range msg {
					msg[k] = byte(int64(c)*131 + i*7 + int64(k))
				}
				t := time.Now()
				if _, err := conns[c].Write(msg); err != nil {
					atomic.AddInt64(&bad, each-i)
					return
				}
				if _, err := io.ReadFull(conns[c], reply); err != nil {
					atomic.AddInt64(&bad, each-i)
					return
				}
				lat[int64(c)*each+i] = int64(time.Since(t))
				if !bytes.Equal(msg, reply) {
					atomic.AddInt64(&bad, 1)
				}
			}
		}(c)
	}
	wg.Wait()
	d := time.Since(start)
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	wrong := atomic.LoadInt64(&bad)
	return outcome{n: total, elapsed: d, metric: float64(total) / d.Seconds() / 1e3, unit: "krt/s",
		ok: wrong == 0, why: fmt.Sprintf("%d replies wrong or missing", wrong),
		note: fmt.Sprintf("# workload=echo clients=%d msg_bytes=%d p50_us=%.1f p99_us=%.1f",
			echoClients, echoBytes, float64(quantile(lat, 0.50))/1e3, float64(quantile(lat, 0.99))/1e3)}
}

// pool runs n tiny tasks through poolWorkers worker goroutines that take
// them from a buffered channel of poolWorkers slots, Go's usual bounded
// worker pool; one goroutine submits. The note gives plain go + WaitGroup
// for the same tasks, measured in the same run.
const poolWorkers = 1000

func pool(n int64) outcome {
	want := n * (n - 1) / 2
	var sum int64
	tasks := make(chan func(), poolWorkers)
	var workers sync.WaitGroup
	workers.Add(poolWorkers)
	start := time.Now()
	for w := 0; w < poolWorkers; w++ {
		go func() {
			for t := range tasks {
				t()
			}
			workers.Done()
		}()
	}
	for i := int64(0); i < n; i++ {
		i := i
		tasks <- func() { atomic.AddInt64(&sum, i) }
	}
	close(tasks)
	workers.Wait()
	d := time.Since(start)
	got := atomic.LoadInt64(&sum)

	var plainSum int64
	var wg sync.WaitGroup
	wg.Add(int(n))
	plainStart := time.Now()
	for i := int64(0); i < n; i++ {
		i := i
		go func() {
			atomic.AddInt64(&plainSum, i)
			wg.Done()
		}()
	}
	wg.Wait()
	plainD := time.Since(plainStart)
	plainGot := atomic.LoadInt64(&plainSum)
	return outcome{n: n, elapsed: d, metric: perOp(d, n), unit: "ns/task", ok: got == want && plainGot == want,
		why:  fmt.Sprintf("sum %d, go+WaitGroup sum %d, want %d", got, plainGot, want),
		note: fmt.Sprintf("# workload=pool workers=%d go_wait_group_ns_per_task=%.1f", poolWorkers, perOp(plainD, n))}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "goro-peer-go:", err)
	os.Exit(1)
}

func usage() {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.name
	}
	fmt.Fprintf(os.Stderr, "usage: goro-peer-go <%s|all|list> [n]   (GOMAXPROCS sets P)\n", strings.Join(names, "|"))
	os.Exit(2)
}

// measure runs one workload under a 90 s watchdog and prints its line.
func measure(s spec, n int64) bool {
	if n < s.minN {
		fmt.Fprintf(os.Stderr, "goro-peer-go: %s needs n >= %d\n", s.name, s.minN)
		os.Exit(2)
	}
	dog := time.AfterFunc(90*time.Second, func() {
		fmt.Fprintf(os.Stderr, "goro-peer-go: %s ran past 90 s, aborting\n", s.name)
		os.Exit(3)
	})
	o := s.run(n)
	dog.Stop()
	check := "ok"
	if !o.ok {
		check = "FAIL"
	}
	fmt.Printf("workload=%s p=%d n=%d seconds=%.6f metric=%.3f unit=%s check=%s\n",
		s.name, runtime.GOMAXPROCS(0), o.n, o.elapsed.Seconds(), o.metric, o.unit, check)
	if o.note != "" {
		fmt.Println(o.note)
	}
	if !o.ok {
		fmt.Fprintf(os.Stderr, "goro-peer-go: %s: %s\n", s.name, o.why)
	}
	return o.ok
}

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 {
		usage()
	}
	which := os.Args[1]
	if which == "list" {
		for _, s := range specs {
			fmt.Println(s.name)
		}
		return
	}
	n := int64(0)
	if len(os.Args) == 3 {
		v, err := strconv.ParseInt(os.Args[2], 10, 64)
		if err != nil || v <= 0 || which == "all" {
			usage()
		}
		n = v
	}
	ok, found := true, false
	for _, s := range specs {
		if which != "all" && which != s.name {
			continue
		}
		found = true
		size := s.defaultN
		if n > 0 {
			size = n
		}
		ok = measure(s, size) && ok
	}
	if !found {
		usage()
	}
	if !ok {
		os.Exit(1)
	}
}
