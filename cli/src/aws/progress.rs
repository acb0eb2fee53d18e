//! Live progress of the resources in flight during `run` and `destroy`.
//!
//! On a terminal (standard error), each resource being created, changed, waited for or
//! deleted has a spinner with its state and elapsed time (indicatif); log lines print above
//! them. Without a terminal, a heartbeat line every 30 s (`DETSCRIPT_HEARTBEAT_SECONDS`)
//! lists what is still in flight and for how long, so a log shows the run is alive during a
//! 15-minute RDS wait. The JSON event stream (`--format json`) has neither.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Overrides the heartbeat's period (seconds) when standard error is not a terminal.
pub const HEARTBEAT_ENV: &str = "DETSCRIPT_HEARTBEAT_SECONDS";
const HEARTBEAT: Duration = Duration::from_secs(30);

/// A resource in flight: its state, detail, and since when.
#[derive(Debug, Clone)]
struct Flight {
    state: String,
    detail: String,
    since: Instant,
}

/// The states after which a resource is no longer in flight.
fn finished(state: &str) -> bool {
    matches!(state, "done" | "FAILED" | "skipped")
}

type Flights = Arc<Mutex<BTreeMap<String, Flight>>>;

pub struct Progress {
    flights: Flights,
    /// Spinners (terminal) and their bars by resource.
    bars: Option<(MultiProgress, Mutex<BTreeMap<String, ProgressBar>>)>,
    /// Stops the heartbeat thread when dropped.
    _stop: Option<mpsc::Sender<()>>,
}

impl Progress {
    /// Spinners when standard error is a terminal, else a heartbeat thread.
    pub fn start() -> Progress {
        let flights: Flights = Arc::default();
        if std::io::stderr().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            return Progress {
                flights,
                bars: Some((multi, Mutex::default())),
                _stop: None,
            };
        }
        let period = std::env::var(HEARTBEAT_ENV)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .map_or(HEARTBEAT, Duration::from_secs_f64);
        let (stop, stopped) = mpsc::channel::<()>();
        let f = flights.clone();
        std::thread::spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
                if let Some(line) = heartbeat(&f.lock().unwrap_or_else(|e| e.into_inner())) {
                    let _ = writeln!(std::io::stderr().lock(), "{line}");
                }
            }
        });
        Progress {
            flights,
            bars: None,
            _stop: Some(stop),
        }
    }

    /// A resource changed state (already redacted).
    pub fn track(&self, id: &str, state: &str, detail: &str) {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if finished(state) {
            flights.remove(id);
        } else {
            let since = flights.get(id).map_or_else(Instant::now, |f| f.since);
            flights.insert(
                id.to_string(),
                Flight {
                    state: state.to_string(),
                    detail: detail.to_string(),
                    since,
                },
            );
        }
        let Some((multi, bars)) = &self.bars else {
            return;
        };
        let mut bars = bars.lock().unwrap_or_else(|e| e.into_inner());
        if finished(state) {
            if let Some(b) = bars.remove(id) {
                b.finish_and_clear();
                multi.remove(&b);
            }
            return;
        }
        let bar = bars.entry(id.to_string()).or_insert_with(|| {
            let b = multi.add(ProgressBar::new_spinner());
            b.set_style(
                ProgressStyle::with_template("  {spinner} {prefix} {msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.set_prefix(id.to_string());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        bar.set_message(if detail.is_empty() {
            state.to_string()
        } else {
            format!("{state} {detail}")
        });
    }

    /// Prints a line on standard error, above the spinners.
    pub fn println(&self, line: &str) {
        match &self.bars {
            Some((multi, _)) if !multi.is_hidden() => {
                let _ = multi.println(line);
            }
            _ => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        }
    }

    /// Runs `f` (which writes to standard output) with the spinners cleared.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bars {
            Some((multi, _)) => multi.suspend(f),
            None => f(),
        }
    }
}

/// `  still in flight: ec2_instance.master waiting 4m10s (i-0abc to be running), ...`, or
/// nothing when no resource is in flight.
fn heartbeat(flights: &BTreeMap<String, Flight>) -> Option<String> {
    if flights.is_empty() {
        return None;
    }
    let items: Vec<String> = flights
        .iter()
        .map(|(id, f)| {
            let detail = if f.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", f.detail)
            };
            format!("{id} {} {}{detail}", f.state, elapsed(f.since.elapsed()))
        })
        .collect();
    Some(format!("  still in flight: {}", items.join(", ")))
}

/// `45s`, `4m10s`, `1h02m`.
fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heartbeat_lists_what_is_in_flight_and_for_how_long() {
        // Tests run without a terminal: the heartbeat variant.
        let p = Progress::start();
        assert!(p.bars.is_none());
        p.track("rds_cluster.db", "creating", "");
        p.track("rds_cluster.db", "waiting", "for status available");
        p.track("s3_bucket.checkpoints", "creating", "");
        p.track("s3_bucket.checkpoints", "done", "det-demo-checkpoints");
        let line = heartbeat(&p.flights.lock().unwrap()).unwrap();
        assert_eq!(
            line,
            "  still in flight: rds_cluster.db waiting 0s (for status available)"
        );
        p.track("rds_cluster.db", "FAILED", "boom");
        assert_eq!(heartbeat(&p.flights.lock().unwrap()), None);
    }

    #[test]
    fn the_elapsed_time_keeps_counting_from_the_first_state() {
        let p = Progress::start();
        p.track("ec2_instance.master", "creating", "");
        let first = p.flights.lock().unwrap()["ec2_instance.master"].since;
        p.track("ec2_instance.master", "waiting", "i-1 to be running");
        assert_eq!(
            p.flights.lock().unwrap()["ec2_instance.master"].since,
            first
        );
        assert_eq!(elapsed(Duration::from_secs(250)), "4m10s");
        assert_eq!(elapsed(Duration::from_secs(3720)), "1h02m");
    }
}
