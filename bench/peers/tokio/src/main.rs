//! goro-peer-tokio: the workloads of docs/workloads.md on Tokio's
//! multi-thread (work-stealing) runtime.
//!
//!     TOKIO_WORKER_THREADS=2 goro-peer-tokio <workload>|all [n]
//!
//! Prints `workload=<name> p=<P> n=<n> seconds=<s> metric=<v> unit=<u> check=ok`
//! per workload (plus an optional line starting with `# workload=`), and
//! `check=FAIL` with exit status 1 when a result is wrong.
//!
//! The benchmark body runs as a task on a worker (`block_on(spawn(..))`), the
//! way goro's main fiber runs on a P, not on the thread that called block_on.
//! Not expressible here: chan_unbuffered_mpmc (Tokio has no rendezvous
//! channel: `mpsc::channel(0)` panics). chan_mpmc shares the single
//! receiver of an mpsc channel among the consumers behind an async mutex,
//! the usual Tokio idiom for several consumers; pingpong uses capacity-1
//! channels, which behave as unbuffered ones when each side waits for the
//! reply before sending again.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch, Mutex, Notify};

struct Outcome {
    n: i64,
    seconds: f64,
    metric: f64,
    unit: &'static str,
    ok: bool,
    extra: String,
    why: String,
}

fn outcome(n: i64, seconds: f64, metric: f64, unit: &'static str, ok: bool, why: String) -> Outcome {
    Outcome { n, seconds, metric, unit, ok, extra: String::new(), why }
}

/// Go's sync.WaitGroup for tasks: the last `done` wakes the one waiter.
struct WaitGroup {
    left: AtomicUsize,
    zero: Notify,
}

impl WaitGroup {
    fn new(n: usize) -> Arc<Self> {
        Arc::new(WaitGroup { left: AtomicUsize::new(n), zero: Notify::new() })
    }
    fn done(&self) {
        // AcqRel: the waiter that sees zero sees every task's writes.
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.zero.notify_one(); // stores a permit if wait has not started yet
        }
    }
    async fn wait(&self) {
        while self.left.load(Ordering::Acquire) != 0 {
            self.zero.notified().await;
        }
    }
}

// ---------------------------------------------------------------------------
async fn spawn_join(n: i64) -> Outcome {
    let counter = Arc::new(AtomicI64::new(0));
    let wg = WaitGroup::new(n as usize);
    let start = Instant::now();
    for _ in 0..n {
        let (counter, wg) = (counter.clone(), wg.clone());
        tokio::spawn(async move {
            counter.fetch_add(1, Ordering::Relaxed);
            wg.done();
        });
    }
    wg.wait().await;
    let s = start.elapsed().as_secs_f64();
    let got = counter.load(Ordering::Relaxed);
    outcome(n, s, s * 1e9 / n as f64, "ns/fiber", got == n, format!("counter={} want {}", got, n))
}

// ---------------------------------------------------------------------------
fn skynet_node(out: mpsc::Sender<i64>, num: i64, size: i64) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        if size == 1 {
            let _ = out.send(num).await;
            return;
        }
        let (tx, mut rx) = mpsc::channel(10);
        let sub = size / 10;
        for i in 0..10 {
            tokio::spawn(skynet_node(tx.clone(), num + i * sub, sub));
        }
        drop(tx);
        let mut sum = 0;
        for _ in 0..10 {
            sum += rx.recv().await.expect("skynet: a child vanished");
        }
        let _ = out.send(sum).await;
    })
}

async fn skynet(n: i64) -> Outcome {
    let (tx, mut rx) = mpsc::channel(1);
    let start = Instant::now();
    tokio::spawn(skynet_node(tx, 0, n));
    let sum = rx.recv().await.unwrap_or(-1);
    let s = start.elapsed().as_secs_f64();
    let want = n * (n - 1) / 2;
    outcome(n, s, s * 1e3, "ms", sum == want, format!("sum={} want {}", sum, want))
}

// ---------------------------------------------------------------------------
async fn pingpong(n: i64) -> Outcome {
    let (a_tx, mut a_rx) = mpsc::channel::<i64>(1);
    let (b_tx, mut b_rx) = mpsc::channel::<i64>(1);
    let start = Instant::now();
    let ping = tokio::spawn(async move {
        let mut x = 0;
        for _ in 0..n {
            a_tx.send(x).await.unwrap();
            x = b_rx.recv().await.unwrap() + 1;
        }
        x
    });
    let pong = tokio::spawn(async move {
        for _ in 0..n {
            let v = a_rx.recv().await.unwrap();
            b_tx.send(v + 1).await.unwrap();
        }
    });
    let last = ping.await.unwrap();
    pong.await.unwrap();
    let s = start.elapsed().as_secs_f64();
    outcome(n, s, s * 1e9 / n as f64, "ns/roundtrip", last == 2 * n, format!("final={} want {}", last, 2 * n))
}

// ---------------------------------------------------------------------------
const CROWD: i64 = 1000; // tasks in yield and mutex

async fn yield_now_bench(n: i64) -> Outcome {
    let per = n / CROWD;
    let total = Arc::new(AtomicI64::new(0));
    let wg = WaitGroup::new(CROWD as usize);
    let start = Instant::now();
    for _ in 0..CROWD {
        let (total, wg) = (total.clone(), wg.clone());
        tokio::spawn(async move {
            let mut k = 0;
            for _ in 0..per {
                tokio::task::yield_now().await;
                k += 1;
            }
            total.fetch_add(k, Ordering::Relaxed);
            wg.done();
        });
    }
    wg.wait().await;
    let s = start.elapsed().as_secs_f64();
    let want = per * CROWD;
    let got = total.load(Ordering::Relaxed);
    outcome(want, s, s * 1e9 / want as f64, "ns/yield", got == want, format!("yields={} want {}", got, want))
}

async fn mutex_bench(n: i64) -> Outcome {
    let per = n / CROWD;
    let counter = Arc::new(Mutex::new(0i64));
    let wg = WaitGroup::new(CROWD as usize);
    let start = Instant::now();
    for _ in 0..CROWD {
        let (counter, wg) = (counter.clone(), wg.clone());
        tokio::spawn(async move {
            for _ in 0..per {
                *counter.lock().await += 1;
            }
            wg.done();
        });
    }
    wg.wait().await;
    let s = start.elapsed().as_secs_f64();
    let want = per * CROWD;
    let got = *counter.lock().await;
    outcome(want, s, s * 1e9 / want as f64, "ns/op", got == want, format!("counter={} want {}", got, want))
}

// ---------------------------------------------------------------------------
const SIDE: i64 = 4; // producers and consumers in chan_mpmc

async fn chan_mpmc(n: i64) -> Outcome {
    let q = n / SIDE;
    let total = q * SIDE;
    let (tx, rx) = mpsc::channel::<i64>(1024);
    let rx = Arc::new(Mutex::new(rx));
    let sum = Arc::new(AtomicI64::new(0));
    let start = Instant::now();
    let mut consumers = Vec::new();
    for _ in 0..SIDE {
        let (rx, sum) = (rx.clone(), sum.clone());
        consumers.push(tokio::spawn(async move {
            let mut s = 0;
            loop {
                let v = rx.lock().await.recv().await;
                match v {
                    Some(v) => s += v,
                    None => break, // every sender dropped: closed and drained
                }
            }
            sum.fetch_add(s, Ordering::Relaxed);
        }));
    }
    for p in 0..SIDE {
        let tx = tx.clone();
        tokio::spawn(async move {
            for i in 1..=q {
                tx.send(p * q + i).await.unwrap();
            }
        });
    }
    drop(tx); // the channel closes when the last producer finishes
    for c in consumers {
        c.await.unwrap();
    }
    let s = start.elapsed().as_secs_f64();
    let want = total * (total + 1) / 2;
    let got = sum.load(Ordering::Relaxed);
    outcome(total, s, total as f64 / s / 1e6, "Mmsg/s", got == want, format!("sum={} want {}", got, want))
}

// ---------------------------------------------------------------------------
fn fib_fork(k: i64) -> Pin<Box<dyn Future<Output = i64> + Send>> {
    Box::pin(async move {
        if k < 2 {
            return k;
        }
        let child = tokio::spawn(fib_fork(k - 1));
        let b = fib_fork(k - 2).await;
        child.await.unwrap() + b
    })
}

fn fib_serial(k: i64) -> i64 {
    let (mut a, mut b) = (0i64, 1i64);
    for _ in 0..k {
        let t = a + b;
        a = b;
        b = t;
    }
    a
}

async fn fib(k: i64) -> Outcome {
    let start = Instant::now();
    let got = fib_fork(k).await;
    let s = start.elapsed().as_secs_f64();
    let want = fib_serial(k);
    let spawns = fib_serial(k + 1) - 1;
    let mut o = outcome(spawns, s, s * 1e3, "ms", got == want, format!("fib({})={} want {}", k, got, want));
    o.extra = format!("# workload=fib k={} result={} spawns={}", k, got, spawns);
    o
}

// ---------------------------------------------------------------------------
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The smallest value with at least fraction p of the samples at or below it.
fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() as f64 * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

const TIMER_LEAD: Duration = Duration::from_millis(400);
const TIMER_WINDOW_NS: u64 = 100_000_000;

async fn timers(n: i64) -> Outcome {
    let mut seed = 12345u64;
    let offsets: Vec<u64> = (0..n).map(|_| splitmix64(&mut seed) % TIMER_WINDOW_NS).collect();
    let ready = WaitGroup::new(n as usize);
    // The barrier: every sleeper waits for T0 to be published.
    let (t0_tx, t0_rx) = watch::channel::<Option<Instant>>(None);
    let last_armed = Arc::new(AtomicI64::new(i64::MIN)); // ns after T0 at which a sleeper called sleep
    let mut sleepers = Vec::with_capacity(n as usize);
    for &off in &offsets {
        let (ready, last_armed, mut t0_rx) = (ready.clone(), last_armed.clone(), t0_rx.clone());
        sleepers.push(tokio::spawn(async move {
            ready.done();
            let t0 = loop {
                if let Some(t0) = *t0_rx.borrow() {
                    break t0;
                }
                if t0_rx.changed().await.is_err() {
                    return i64::MIN;
                }
            };
            let deadline = t0 + Duration::from_nanos(off);
            let now = Instant::now();
            let armed = if now >= t0 { (now - t0).as_nanos() as i64 } else { -((t0 - now).as_nanos() as i64) };
            last_armed.fetch_max(armed, Ordering::Relaxed);
            tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
            let woke = Instant::now();
            if woke >= deadline {
                (woke - deadline).as_nanos() as i64
            } else {
                -((deadline - woke).as_nanos() as i64)
            }
        }));
    }
    drop(t0_rx);
    ready.wait().await;
    let t0 = Instant::now() + TIMER_LEAD;
    t0_tx.send(Some(t0)).unwrap();
    let mut late = Vec::with_capacity(n as usize);
    for s in sleepers {
        late.push(s.await.unwrap());
    }
    let s = t0.elapsed().as_secs_f64();
    let armed_after = last_armed.load(Ordering::Relaxed);
    let mut ok = true;
    let mut why = String::new();
    if armed_after > 0 {
        ok = false;
        why = format!("the last sleeper called sleep {} us after T0: the run is invalid", armed_after / 1000);
    }
    if let Some(i) = late.iter().position(|&l| l < 0) {
        ok = false;
        why = format!("sleeper {} woke {} ns early", i, -late[i]);
    }
    late.sort_unstable();
    let us = |v: i64| v as f64 / 1e3;
    let mut o = outcome(n, s, us(percentile(&late, 0.99)), "us_p99_late", ok, why);
    o.extra = format!(
        "# workload=timers total_ms={:.1} p50_late_us={:.1} p99_late_us={:.1} max_late_us={:.1}",
        s * 1e3,
        us(percentile(&late, 0.50)),
        us(percentile(&late, 0.99)),
        us(*late.last().unwrap_or(&0))
    );
    o
}

// ---------------------------------------------------------------------------
fn rss_bytes() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix("VmRSS:") {
            let kb: i64 = rest.split_whitespace().next().and_then(|v| v.parse().ok()).expect("VmRSS value");
            return kb * 1024;
        }
    }
    panic!("VmRSS not found in /proc/self/status");
}

async fn parked_memory(n: i64) -> Outcome {
    let rss0 = rss_bytes();
    let mut senders = Vec::with_capacity(n as usize);
    let mut receivers = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let (tx, rx) = oneshot::channel::<i64>();
        senders.push(tx);
        receivers.push(rx);
    }
    let base = rss_bytes();
    let parked = Arc::new(AtomicI64::new(0));
    let sum = Arc::new(AtomicI64::new(0));
    let wg = WaitGroup::new(n as usize);
    let start = Instant::now();
    for rx in receivers {
        let (parked, sum, wg) = (parked.clone(), sum.clone(), wg.clone());
        tokio::spawn(async move {
            parked.fetch_add(1, Ordering::Relaxed);
            sum.fetch_add(rx.await.unwrap(), Ordering::Relaxed);
            wg.done();
        });
    }
    while parked.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Every task has counted itself; give the last ones time to reach the receive.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let parked_rss = rss_bytes();
    for (i, tx) in senders.into_iter().enumerate() {
        let _ = tx.send(i as i64 + 1);
    }
    wg.wait().await;
    let s = start.elapsed().as_secs_f64();
    let want = n * (n + 1) / 2;
    let got = sum.load(Ordering::Relaxed);
    let mut o = outcome(n, s, (parked_rss - base) as f64 / n as f64, "bytes/fiber", got == want,
                        format!("sum={} want {}", got, want));
    o.extra = format!(
        "# workload=parked_memory rss_before_channels={} rss_baseline={} rss_parked={} channel_bytes_each={:.1}",
        rss0, base, parked_rss, (base - rss0) as f64 / n as f64
    );
    o
}

// ---------------------------------------------------------------------------
const ECHO_CLIENTS: i64 = 100;
const ECHO_BYTES: usize = 64;

async fn echo(n: i64) -> Outcome {
    let per = n / ECHO_CLIENTS;
    let total = per * ECHO_CLIENTS;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("echo: bind");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = sock.set_nodelay(true);
                let mut buf = [0u8; ECHO_BYTES];
                while sock.read_exact(&mut buf).await.is_ok() {
                    if sock.write_all(&buf).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let mut socks = Vec::new();
    for _ in 0..ECHO_CLIENTS {
        let s = tokio::net::TcpStream::connect(addr).await.expect("echo: connect");
        s.set_nodelay(true).unwrap();
        socks.push(s);
    }
    let bad = Arc::new(AtomicI64::new(0));
    let start = Instant::now();
    let mut clients = Vec::new();
    for (c, mut sock) in socks.into_iter().enumerate() {
        let bad = bad.clone();
        clients.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per as usize);
            let (mut msg, mut reply) = ([0u8; ECHO_BYTES], [0u8; ECHO_BYTES]);
            for i in 0..per {
                for (k, b) in msg.iter_mut().enumerate() {
                    *b = (c as i64 * 131 + i * 7 + k as i64) as u8;
                }
                let t = Instant::now();
                if sock.write_all(&msg).await.is_err() || sock.read_exact(&mut reply).await.is_err() {
                    bad.fetch_add(per - i, Ordering::Relaxed);
                    break;
                }
                lat.push(t.elapsed().as_nanos() as i64);
                if msg != reply {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
            }
            lat
        }));
    }
    let mut lat = Vec::with_capacity(total as usize);
    for c in clients {
        lat.extend(c.await.unwrap());
    }
    let s = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let b = bad.load(Ordering::Relaxed);
    let mut o = outcome(total, s, total as f64 / s / 1e3, "krt/s", b == 0, format!("{} bad or missing replies", b));
    o.extra = format!(
        "# workload=echo clients={} msg_bytes={} p50_us={:.1} p99_us={:.1}",
        ECHO_CLIENTS,
        ECHO_BYTES,
        percentile(&lat, 0.50) as f64 / 1e3,
        percentile(&lat, 0.99) as f64 / 1e3
    );
    o
}

// ---------------------------------------------------------------------------
type Body = fn(i64) -> Pin<Box<dyn Future<Output = Outcome> + Send>>;

struct Workload {
    name: &'static str,
    default_n: i64,
    body: Body,
    check_n: fn(i64) -> Option<&'static str>,
}

fn any_n(_: i64) -> Option<&'static str> {
    None
}

fn crowd_n(n: i64) -> Option<&'static str> {
    if n < CROWD { Some("needs n >= 1000") } else { None }
}

fn power_of_10(n: i64) -> Option<&'static str> {
    let mut m = n;
    while m >= 10 && m % 10 == 0 {
        m /= 10;
    }
    if m == 1 { None } else { Some("skynet needs n to be a power of 10") }
}

macro_rules! body {
    ($f:ident) => {
        |n| Box::pin($f(n))
    };
}

const WORKLOADS: &[Workload] = &[
    Workload { name: "spawn_join", default_n: 1_000_000, body: body!(spawn_join), check_n: any_n },
    Workload { name: "skynet", default_n: 1_000_000, body: body!(skynet), check_n: power_of_10 },
    Workload { name: "pingpong", default_n: 1_000_000, body: body!(pingpong), check_n: any_n },
    Workload { name: "yield", default_n: 10_000_000, body: body!(yield_now_bench), check_n: crowd_n },
    Workload { name: "chan_mpmc", default_n: 10_000_000, body: body!(chan_mpmc), check_n: any_n },
    Workload { name: "mutex", default_n: 10_000_000, body: body!(mutex_bench), check_n: crowd_n },
    // For fib the argument is k; the line reports n = the number of spawns.
    Workload { name: "fib", default_n: 27, body: body!(fib), check_n: |k| if k > 40 { Some("fib: k > 40") } else { None } },
    Workload { name: "timers", default_n: 100_000, body: body!(timers), check_n: any_n },
    Workload { name: "parked_memory", default_n: 1_000_000, body: body!(parked_memory), check_n: any_n },
    Workload { name: "echo", default_n: 1_000_000, body: body!(echo), check_n: |n| if n < ECHO_CLIENTS { Some("echo needs n >= 100") } else { None } },
];

fn worker_threads() -> usize {
    std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&p: &usize| p > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1))
}

fn run(w: &Workload, n: i64, p: usize) -> bool {
    if let Some(msg) = (w.check_n)(n) {
        eprintln!("goro-peer-tokio: {}: {}", w.name, msg);
        std::process::exit(2);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(p).enable_all().build().expect("runtime");
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let name = w.name;
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(Duration::from_secs(90)).is_err() {
            eprintln!("goro-peer-tokio: workload {} exceeded 90 s, aborting", name);
            std::process::exit(3);
        }
    });
    let body = w.body;
    let o = rt.block_on(async move { tokio::spawn(body(n)).await.expect("workload panicked") });
    let _ = done_tx.send(());
    let _ = watchdog.join();
    drop(rt);
    println!(
        "workload={} p={} n={} seconds={:.6} metric={:.3} unit={} check={}",
        w.name, p, o.n, o.seconds, o.metric, o.unit, if o.ok { "ok" } else { "FAIL" }
    );
    if !o.extra.is_empty() {
        println!("{}", o.extra);
    }
    if !o.ok {
        eprintln!("goro-peer-tokio: {}: {}", w.name, o.why);
    }
    o.ok
}

fn usage(names: &[&str]) -> ! {
    eprintln!("usage: goro-peer-tokio <{}|all|list> [n]   (TOKIO_WORKER_THREADS sets P)", names.join("|"));
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let names: Vec<&str> = WORKLOADS.iter().map(|w| w.name).collect();
    if args.len() < 2 || args.len() > 3 {
        usage(&names);
    }
    let which = args[1].as_str();
    if which == "list" {
        // The workloads this peer expresses, for scripts/compare.
        names.iter().for_each(|n| println!("{}", n));
        return;
    }
    let n_arg = match args.get(2) {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n > 0 && which != "all" => Some(n),
            _ => usage(&names),
        },
    };
    if which != "all" && !names.contains(&which) {
        if which == "chan_unbuffered_mpmc" {
            eprintln!("goro-peer-tokio: chan_unbuffered_mpmc: Tokio has no unbuffered channel");
            std::process::exit(2);
        }
        usage(&names);
    }
    let p = worker_threads();
    let mut all_ok = true;
    for w in WORKLOADS.iter().filter(|w| which == "all" || which == w.name) {
        all_ok &= run(w, n_arg.unwrap_or(w.default_n), p);
    }
    std::process::exit(if all_ok { 0 } else { 1 });
}
