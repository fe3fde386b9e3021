//! Faults the fake server injects on demand, and the plan that decides which request gets one.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A misbehaviour the fake server can show instead of (or before) its normal answer.
///
/// Faults are scheduled with [`FakeServer::fail_next`](super::FakeServer::fail_next) or
/// [`FakeServer::fail_randomly`](super::FakeServer::fail_randomly). They apply to requests
/// that carry a valid token and pass the rate limiter, so a 401 or a real 429 still comes
/// first.
///
/// Each also has a text form, used by the `aelyst-fake` binary's flags:
///
/// | text | fault |
/// | --- | --- |
/// | `449` | [`Fault::Queued`] |
/// | `500` | [`Fault::ServerError`] |
/// | `429`, `429:SECONDS` | [`Fault::RateLimited`] (`Retry-After` 1 s by default) |
/// | `delay:MILLISECONDS` | [`Fault::Delay`] |
/// | `drop` | [`Fault::DropConnection`] |
/// | `malformed` | [`Fault::MalformedBody`] |
/// | `oversized`, `oversized:BYTES` | [`Fault::OversizedBody`] (1 MiB by default) |
///
/// ```
/// use std::time::Duration;
/// use aelyst::fake::Fault;
///
/// assert_eq!("429:2".parse::<Fault>()?, Fault::RateLimited { retry_after: Duration::from_secs(2) });
/// assert_eq!(Fault::Delay(Duration::from_millis(250)).to_string(), "delay:250");
/// # Ok::<(), aelyst::fake::ParseFaultError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// 449 with the API's "currently in queue" error body.
    Queued,
    /// 500 with the API's "Unexpected error occurred" body.
    ServerError,
    /// 429 with this `Retry-After` (written in whole seconds when it is whole).
    RateLimited {
        /// The wait the response asks for.
        retry_after: Duration,
    },
    /// Waits this long, then answers normally.
    Delay(Duration),
    /// Closes the connection without answering.
    DropConnection,
    /// 200 with a body that is not JSON.
    MalformedBody,
    /// 200 with a valid `{"contactId": n, …}` body padded to this many bytes.
    OversizedBody {
        /// The size of the body.
        bytes: usize,
    },
}

/// The size of an `oversized` fault given without one.
const DEFAULT_OVERSIZED_BYTES: usize = 1024 * 1024;

impl FromStr for Fault {
    type Err = ParseFaultError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let reject = || ParseFaultError(text.to_owned());
        let (name, arg) = match text.split_once(':') {
            Some((name, arg)) => (name, Some(arg)),
            None => (text, None),
        };
        let fault = match (name, arg) {
            ("449", None) => Fault::Queued,
            ("500", None) => Fault::ServerError,
            ("429", None) => Fault::RateLimited {
                retry_after: Duration::from_secs(1),
            },
            ("429", Some(seconds)) => Fault::RateLimited {
                retry_after: seconds
                    .parse::<f64>()
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(reject)?,
            },
            ("delay", Some(ms)) => {
                Fault::Delay(Duration::from_millis(ms.parse().map_err(|_| reject())?))
            }
            ("drop", None) => Fault::DropConnection,
            ("malformed", None) => Fault::MalformedBody,
            ("oversized", None) => Fault::OversizedBody {
                bytes: DEFAULT_OVERSIZED_BYTES,
            },
            ("oversized", Some(bytes)) => Fault::OversizedBody {
                bytes: bytes.parse().map_err(|_| reject())?,
            },
            _ => return Err(reject()),
        };
        Ok(fault)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Queued => f.write_str("449"),
            Fault::ServerError => f.write_str("500"),
            Fault::RateLimited { retry_after } => write!(f, "429:{}", retry_after.as_secs_f64()),
            Fault::Delay(delay) => write!(f, "delay:{}", delay.as_millis()),
            Fault::DropConnection => f.write_str("drop"),
            Fault::MalformedBody => f.write_str("malformed"),
            Fault::OversizedBody { bytes } => write!(f, "oversized:{bytes}"),
        }
    }
}

/// A fault's text form that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown fault {0:?}; expected 449, 500, 429[:SECONDS], delay:MILLISECONDS, drop, malformed or oversized[:BYTES]"
)]
pub struct ParseFaultError(String);

/// Which requests get which fault: rules tried in the order they were added, the first that
/// fires wins.
#[derive(Debug, Default)]
pub(crate) struct FaultPlan {
    rules: Vec<Rule>,
}

#[derive(Debug)]
struct Rule {
    fault: Fault,
    trigger: Trigger,
}

#[derive(Debug)]
enum Trigger {
    /// The next `n` requests.
    Next(u64),
    /// Each request with this probability, drawn from a seeded generator so a run repeats.
    Randomly { fraction: f64, rng: fastrand::Rng },
}

impl FaultPlan {
    pub(crate) fn next(&mut self, count: u64, fault: Fault) {
        if count > 0 {
            self.rules.push(Rule {
                fault,
                trigger: Trigger::Next(count),
            });
        }
    }

    pub(crate) fn randomly(&mut self, fraction: f64, seed: u64, fault: Fault) {
        // NaN and out-of-range fractions mean "never" and "always".
        let fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        let rng = fastrand::Rng::with_seed(seed);
        self.rules.push(Rule {
            fault,
            trigger: Trigger::Randomly { fraction, rng },
        });
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// The fault for the request being handled, if any.
    pub(crate) fn pick(&mut self) -> Option<Fault> {
        let fired = self
            .rules
            .iter_mut()
            .position(|rule| match &mut rule.trigger {
                Trigger::Next(left) => {
                    *left -= 1;
                    true
                }
                Trigger::Randomly { fraction, rng } => rng.f64() < *fraction,
            })?;
        let fault = self.rules[fired].fault.clone();
        if matches!(self.rules[fired].trigger, Trigger::Next(0)) {
            self.rules.remove(fired);
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        for text in [
            "449",
            "500",
            "429:2",
            "429:0.5",
            "delay:250",
            "drop",
            "malformed",
            "oversized:10",
        ] {
            assert_eq!(text.parse::<Fault>().unwrap().to_string(), text);
        }
        assert_eq!(
            "oversized".parse::<Fault>().unwrap(),
            Fault::OversizedBody { bytes: 1 << 20 }
        );
        for bad in [
            "",
            "404",
            "429:-1",
            "429:soon",
            "delay",
            "delay:1.5",
            "drop:1",
        ] {
            assert!(bad.parse::<Fault>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn next_rules_fire_in_order_then_expire() {
        let mut plan = FaultPlan::default();
        plan.next(2, Fault::ServerError);
        plan.next(1, Fault::Queued);
        let picked: Vec<_> = (0..4).map(|_| plan.pick()).collect();
        assert_eq!(
            picked,
            [
                Some(Fault::ServerError),
                Some(Fault::ServerError),
                Some(Fault::Queued),
                None
            ]
        );
    }

    #[test]
    fn random_rules_repeat_with_the_same_seed_and_hit_about_their_fraction() {
        let run = |seed| {
            let mut plan = FaultPlan::default();
            plan.randomly(0.25, seed, Fault::Queued);
            (0..1000).map(|_| plan.pick().is_some()).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        let hits = run(7).iter().filter(|&&hit| hit).count();
        assert!((200..300).contains(&hits), "{hits}");
    }
}
