//! The telemetry store's answers, and a property test against the rings it replaced.

use super::*;

const T0: u64 = 1_700_000_000;
const NS: u64 = 1_000_000_000;
const IN_M: Series = Series::In(Signal::Metrics);

fn cumulative(stream: u64, start: u64, time: u64, value: f64) -> Sample {
    Sample {
        series: Some(IN_M),
        part: None,
        stream,
        temporality: Temporality::Cumulative,
        start_ns: start * NS,
        time_ns: time * NS,
        value,
    }
}

fn tail(store: &TelemetryStore, now: u64, id: &AgentId, r: Resolution, n: usize) -> Vec<f64> {
    let mut out = Vec::new();
    store.tail_at(now, id, IN_M, r, n, &mut out);
    out
}

fn fleet(store: &TelemetryStore, now: u64, n: usize) -> Vec<f64> {
    let mut out = Vec::new();
    store.fleet_tail_at(now, IN_M, Resolution::Second, n, &mut out);
    out
}

#[test]
fn cumulative_counter_gives_the_rate_between_reports() {
    let store = TelemetryStore::new();
    let a = AgentId([1; 16]);
    // Started an hour ago: the first point is only a baseline.
    store.ingest_at(T0, &a, &[cumulative(1, T0 - 3600, T0, 1000.0)]);
    assert_eq!(store.latest_at(T0, &a, IN_M), None);
    // 500 more in 10 s.
    store.ingest_at(T0 + 10, &a, &[cumulative(1, T0 - 3600, T0 + 10, 1500.0)]);
    assert_eq!(store.latest_at(T0 + 10, &a, IN_M), Some(50.0));
    assert_eq!(
        tail(&store, T0 + 12, &a, Resolution::Second, 5),
        vec![0.0, 0.0, 50.0, 50.0, 50.0]
    );
}

#[test]
fn streams_of_a_series_are_summed() {
    let store = TelemetryStore::new();
    let a = AgentId([1; 16]);
    store.ingest_at(
        T0,
        &a,
        &[
            cumulative(1, T0 - 3600, T0, 0.0),
            cumulative(2, T0 - 3600, T0, 0.0),
        ],
    );
    store.ingest_at(
        T0 + 10,
        &a,
        &[
            cumulative(1, T0 - 3600, T0 + 10, 100.0),
            cumulative(2, T0 - 3600, T0 + 10, 300.0),
        ],
    );
    assert_eq!(store.latest_at(T0 + 10, &a, IN_M), Some(40.0));
}

#[test]
fn counter_reset_starts_a_new_run() {
    let store = TelemetryStore::new();
    let a = AgentId([2; 16]);
    store.ingest_at(T0, &a, &[cumulative(1, T0 - 3600, T0, 5000.0)]);
    store.ingest_at(T0 + 10, &a, &[cumulative(1, T0 - 3600, T0 + 10, 5100.0)]);
    assert_eq!(store.latest_at(T0 + 10, &a, IN_M), Some(10.0));
    // The collector restarted at T0+15 and counted 200 by T0+20: 40/s, not negative.
    store.ingest_at(T0 + 20, &a, &[cumulative(1, T0 + 15, T0 + 20, 200.0)]);
    assert_eq!(store.latest_at(T0 + 20, &a, IN_M), Some(40.0));
    // Then 300 more in 10 s.
    store.ingest_at(T0 + 30, &a, &[cumulative(1, T0 + 15, T0 + 30, 500.0)]);
    assert_eq!(store.latest_at(T0 + 30, &a, IN_M), Some(30.0));
    // A drop without a start time is a reset too: 60 counted since the last point.
    store.ingest_at(T0 + 40, &a, &[cumulative(1, 0, T0 + 40, 60.0)]);
    assert_eq!(store.latest_at(T0 + 40, &a, IN_M), Some(6.0));
}

#[test]
fn delta_points_are_rates_over_their_interval() {
    let store = TelemetryStore::new();
    let a = AgentId([3; 16]);
    let delta = |start: u64, time: u64, value: f64| Sample {
        temporality: Temporality::Delta,
        ..cumulative(7, start, time, value)
    };
    store.ingest_at(T0 + 10, &a, &[delta(T0, T0 + 10, 100.0)]);
    assert_eq!(store.latest_at(T0 + 10, &a, IN_M), Some(10.0));
    store.ingest_at(T0 + 20, &a, &[delta(T0 + 10, T0 + 20, 300.0)]);
    assert_eq!(store.latest_at(T0 + 20, &a, IN_M), Some(30.0));
}

#[test]
fn out_of_order_and_duplicate_points_are_ignored() {
    let store = TelemetryStore::new();
    let a = AgentId([4; 16]);
    store.ingest_at(T0, &a, &[cumulative(1, T0 - 3600, T0, 100.0)]);
    store.ingest_at(T0 + 10, &a, &[cumulative(1, T0 - 3600, T0 + 10, 200.0)]);
    let late = store.ingest_at(T0 + 11, &a, &[cumulative(1, T0 - 3600, T0 + 5, 150.0)]);
    let dup = store.ingest_at(T0 + 12, &a, &[cumulative(1, T0 - 3600, T0 + 10, 200.0)]);
    assert_eq!((late.stale, dup.stale), (1, 1));
    assert_eq!(store.latest_at(T0 + 12, &a, IN_M), Some(10.0));
    store.ingest_at(T0 + 20, &a, &[cumulative(1, T0 - 3600, T0 + 20, 400.0)]);
    assert_eq!(store.latest_at(T0 + 20, &a, IN_M), Some(20.0));
}

#[test]
fn fleet_sums_agents_and_drops_silent_ones() {
    let store = TelemetryStore::new();
    let (a, b) = (AgentId([5; 16]), AgentId([6; 16]));
    for (id, per_report) in [(a, 500.0), (b, 200.0)] {
        store.ingest_at(T0, &id, &[cumulative(1, T0 - 3600, T0, 0.0)]);
        store.ingest_at(
            T0 + 10,
            &id,
            &[cumulative(1, T0 - 3600, T0 + 10, per_report)],
        );
    }
    // The fleet series begins with the first known rate.
    assert_eq!(fleet(&store, T0 + 11, 3), vec![70.0, 70.0]);
    assert_eq!(store.agents_reporting_at(T0 + 11), 2);
    // b keeps reporting, a goes silent; a's rate holds hold_for(10) = 25 s.
    store.ingest_at(T0 + 20, &b, &[cumulative(1, T0 - 3600, T0 + 20, 400.0)]);
    store.ingest_at(T0 + 30, &b, &[cumulative(1, T0 - 3600, T0 + 30, 600.0)]);
    assert_eq!(fleet(&store, T0 + 36, 2), vec![70.0, 20.0]);
    assert_eq!(store.latest_at(T0 + 36, &a, IN_M), None);
    assert_eq!(store.agents_reporting_at(T0 + 36), 1);
    store.forget_at(T0 + 37, &b);
    assert_eq!(fleet(&store, T0 + 38, 3), vec![20.0, 0.0, 0.0]);
    assert_eq!(store.agents_reporting_at(T0 + 38), 0);
    assert_eq!(store.agents_tracked(), 1);
}

#[test]
fn ten_second_points_average_their_seconds() {
    let store = TelemetryStore::new();
    let a = AgentId([7; 16]);
    let base = 1_700_000_000; // a multiple of 10
    store.ingest_at(base, &a, &[cumulative(1, base - 3600, base, 0.0)]);
    store.ingest_at(base + 5, &a, &[cumulative(1, base - 3600, base + 5, 50.0)]);
    store.ingest_at(
        base + 15,
        &a,
        &[cumulative(1, base - 3600, base + 15, 350.0)],
    );
    // Bucket 0: seconds 0-4 read 0, 5-9 read 10 → 5. Bucket 1: 10-14 read 10, 15-19
    // read 30 → 20. Bucket 2, in progress at second 22: 30.
    // Values older than the latest report are kept to within 0.5 %.
    let got = tail(&store, base + 22, &a, Resolution::TenSeconds, 10);
    assert_eq!(got.len(), 3);
    for (got, want) in got.iter().zip([5.0, 20.0, 30.0]) {
        assert!((got - want).abs() <= 0.005 * want, "{got} for {want}");
    }
}

#[test]
fn an_agent_that_never_reported_costs_nothing_and_a_steady_one_stops_growing() {
    let store = TelemetryStore::new();
    assert_eq!(store.memory_bytes(), 0);
    let a = AgentId([8; 16]);
    // A day of reports every 10 s on the same streams: after the first hour and a chunk,
    // what is kept stops growing.
    let mut after_70_min = 0;
    for k in 0..8640 {
        let t = T0 + 10 * k;
        store.ingest_at(t, &a, &[cumulative(1, T0 - 3600, t, 10.0 * k as f64)]);
        if k == 420 {
            after_70_min = store.memory_bytes();
        }
    }
    assert_eq!(store.memory_bytes(), after_70_min);
    // One series, 10 s reports: well under the budget of a reporting agent.
    assert!(after_70_min < 1500, "{after_70_min} bytes");
    assert_eq!(store.latest_at(T0 + 86_390, &a, IN_M), Some(1.0));
    // The hour is still there at 10-second resolution.
    let hour = tail(&store, T0 + 86_390, &a, Resolution::TenSeconds, 360);
    assert_eq!(hour.len(), 360);
    assert!(hour.iter().all(|v| (v - 1.0).abs() < 0.006), "{hour:?}");
}

/// The answers of the compact history against the rings it replaced: the same number of
/// points, each within the history's 0.5 % (exact for the latest report's values).
mod against_the_rings {
    use super::*;
    use crate::fleet::telemetry::oracle::RingAgent;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    struct Report {
        /// Seconds since the previous report (0: the same second).
        gap: u64,
        /// Per series: how much a counter grew (or a gauge's value), `None` when not sent.
        values: Vec<(usize, u8, f64)>,
    }

    fn report() -> impl Strategy<Value = Report> {
        let gap = prop_oneof![
            8 => 9u64..=11,
            2 => 0u64..=3,
            2 => 12u64..=70,
            1 => 150u64..=900,
            1 => 3000u64..=4000,
        ];
        // Series 0-2 and 9 are counters, 10 a gauge; a step of 0 is a restarted counter.
        let value = (
            prop_oneof![Just(0usize), Just(1), Just(2), Just(6), Just(9), Just(10)],
            0u8..4,
            0.0f64..5000.0,
        );
        (gap, proptest::collection::vec(value, 0..5))
            .prop_map(|(gap, values)| Report { gap, values })
    }

    fn samples(r: &Report, time: u64, totals: &mut [f64; SERIES_COUNT]) -> Vec<Sample> {
        let mut out = Vec::new();
        let mut seen = [false; SERIES_COUNT];
        for (i, shape, v) in &r.values {
            if std::mem::replace(&mut seen[*i], true) {
                continue;
            }
            let series = Series::ALL[*i];
            let (temporality, value) = match (*i, shape) {
                (10, _) => (Temporality::Gauge, *v * 1e4),
                (_, 0) => {
                    // The counter restarts.
                    totals[*i] = *v;
                    (Temporality::Cumulative, *v)
                }
                (_, 1) => (Temporality::Delta, *v),
                _ => {
                    totals[*i] += *v;
                    (Temporality::Cumulative, totals[*i])
                }
            };
            out.push(Sample {
                series: Some(series),
                part: None,
                stream: *i as u64,
                temporality,
                start_ns: if temporality == Temporality::Delta {
                    (time.saturating_sub(10)) * NS
                } else {
                    (T0 - 60) * NS
                },
                time_ns: time * NS,
                value,
            });
        }
        out
    }

    fn close(new: &[f64], old: &[f64]) -> bool {
        new.len() == old.len()
            && new
                .iter()
                .zip(old)
                .all(|(a, b)| (a - b).abs() <= 0.0051 * a.abs().max(b.abs()) + 1e-6)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn tails_and_latest_values_agree(
            reports in proptest::collection::vec(report(), 1..500),
            reads in proptest::collection::vec(0u64..400, 1..4),
        ) {
            let store = TelemetryStore::new();
            let id = AgentId([9; 16]);
            let mut rings = RingAgent::new(T0);
            let mut totals = [0.0; SERIES_COUNT];
            let mut time = T0;
            for (k, r) in reports.iter().enumerate() {
                if k > 0 {
                    time += r.gap;
                }
                let s = samples(r, time, &mut totals);
                store.ingest_at(time, &id, &s);
                rings.report(time, &s);
            }
            let (mut new, mut old) = (Vec::new(), Vec::new());
            for later in reads {
                let now = time + later;
                for series in Series::ALL {
                    let i = series.index();
                    for (r, n) in [(Resolution::Second, 240), (Resolution::TenSeconds, 360), (Resolution::Second, 7)] {
                        store.tail_at(now, &id, series, r, n, &mut new);
                        rings.tail(now, i, r, n, &mut old);
                        prop_assert!(close(&new, &old), "{series:?} {r:?} n={n} at +{later}:\nnew {new:?}\nold {old:?}");
                    }
                    prop_assert_eq!(store.latest_at(now, &id, series), rings.latest(now, i));
                }
                // All series in one pass answer exactly as one series at a time.
                for n in [7, 240] {
                    let mut all: [Vec<f64>; SERIES_COUNT] = Default::default();
                    store.tails_at(now, &id, n, &mut all);
                    for series in Series::ALL {
                        store.tail_at(now, &id, series, Resolution::Second, n, &mut new);
                        prop_assert_eq!(&all[series.index()], &new, "{:?} n={}", series, n);
                    }
                }
            }
        }
    }
}

/// An agent shaped like `fleetdeck simulate`'s (two pipelines: accepted, sent and failed
/// per signal, CPU and memory; rates that drift and jitter), reporting every 10 s.
fn simulated_collector_reports(store: &TelemetryStore, id: &AgentId, reports: u64) {
    let mut totals = [0.0f64; SERIES_COUNT];
    let mut walk = 0.0f64;
    let mut jitter = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        jitter ^= jitter << 13;
        jitter ^= jitter >> 7;
        jitter ^= jitter << 17;
        (jitter % 10_000) as f64 / 10_000.0
    };
    let series = [
        Series::In(Signal::Logs),
        Series::Out(Signal::Logs),
        Series::Failed(Signal::Logs),
        Series::In(Signal::Metrics),
        Series::Out(Signal::Metrics),
        Series::Failed(Signal::Metrics),
        Series::Cpu,
    ];
    let mut samples = Vec::new();
    for k in 0..reports {
        let t = T0 + 10 * k;
        walk = walk * 0.97 + (next() - 0.5) * 0.12;
        let load = walk.exp() * (1.0 + 0.35 * (t as f64 / 900.0).sin());
        samples.clear();
        for s in series {
            let rate = match s {
                Series::Failed(_) if next() < 0.98 => 0.0,
                Series::Failed(_) => 20.0 * load,
                Series::Cpu => 0.015 + 0.008 * load,
                _ => 160.0 * load,
            };
            totals[s.index()] += rate * 10.0;
            samples.push(Sample {
                series: Some(s),
                part: None,
                stream: s.index() as u64,
                temporality: Temporality::Cumulative,
                start_ns: (T0 - 60) * NS,
                time_ns: t * NS,
                value: totals[s.index()].round(),
            });
        }
        samples.push(Sample {
            series: Some(Series::Memory),
            part: None,
            stream: 99,
            temporality: Temporality::Gauge,
            start_ns: 0,
            time_ns: t * NS,
            value: (62e6 + 2.8e6 * load) * (0.97 + 0.06 * next()),
        });
        store.ingest_at(t, id, &samples);
    }
}

#[test]
fn a_simulated_collector_keeps_its_hour_in_about_three_kilobytes() {
    let store = TelemetryStore::new();
    let a = AgentId([10; 16]);
    // 75 minutes: the hour, and the chunk that rolls past it.
    simulated_collector_reports(&store, &a, 450);
    let bytes = store.memory_bytes();
    eprintln!("a simulated Collector after 75 min of 10 s reports: {bytes} bytes");
    // 28.7 KB of rings and ~2 KB of streams before; 3.3 KB now (BENCHMARKS.md).
    assert!(bytes <= 3584, "{bytes} bytes");
    // Every series it sent still answers for the whole hour.
    let mut out = Vec::new();
    store.tail_at(
        T0 + 4490,
        &a,
        Series::Memory,
        Resolution::TenSeconds,
        360,
        &mut out,
    );
    assert_eq!(out.len(), 360);
    assert!(out.iter().all(|v| *v > 5e7), "{out:?}");
}

#[test]
fn a_window_averages_the_points_the_agent_has_and_nothing_else() {
    let store = TelemetryStore::new();
    let a = AgentId([7; 16]);
    assert_eq!(store.window_at(T0, &a, T0 - 10, T0), None, "never reported");
    // Rate 50/s from T0+10 (the first report is a baseline), 150/s from T0+20.
    store.ingest_at(T0, &a, &[cumulative(1, T0 - 3600, T0, 0.0)]);
    store.ingest_at(T0 + 10, &a, &[cumulative(1, T0 - 3600, T0 + 10, 500.0)]);
    store.ingest_at(T0 + 20, &a, &[cumulative(1, T0 - 3600, T0 + 20, 2000.0)]);
    let w = store.window_at(T0 + 29, &a, T0 + 10, T0 + 29);
    let w = w.expect("the agent reported");
    assert_eq!((w.seconds, w.last_report), (20, T0 + 20));
    assert!((w.mean(IN_M) - 100.0).abs() < 1.0, "{}", w.mean(IN_M));
    // Seconds before the first report and after now do not dilute the mean.
    let clipped = store.window_at(T0 + 29, &a, T0 - 100, T0 + 500);
    assert_eq!(clipped.map(|w| w.seconds), Some(30));
    // A span wholly before the agent's first report has no data.
    let before = store.window_at(T0 + 29, &a, T0 - 100, T0 - 1);
    assert_eq!(before.map(|w| w.seconds), Some(0));
    assert_eq!(before.map(|w| w.mean(IN_M)), Some(0.0));
}
