//! `metrics`-crate instruments for an adaptive limit (feature `metrics`),
//! labelled `adaptive` = its name: the gauges `palisade_adaptive_limit`
//! and `palisade_adaptive_in_flight`, the counters
//! `palisade_adaptive_drops_total` and `palisade_adaptive_rejected_total`.
//! Published when a window closes and when
//! [`AdaptiveLimit::metrics`](super::AdaptiveLimit::metrics) is read: the
//! call path touches no handle.

use metrics::{counter, describe_counter, describe_gauge, gauge, Counter, Gauge, Unit};

use super::AdaptiveMetrics;

pub(crate) struct Instruments {
    limit: Gauge,
    in_flight: Gauge,
    drops: Counter,
    rejected: Counter,
}

impl Instruments {
    pub(crate) fn new(name: &str) -> Self {
        describe_gauge!(
            "palisade_adaptive_limit",
            "An adaptive limit's current limit."
        );
        describe_gauge!(
            "palisade_adaptive_in_flight",
            "Calls holding a place under an adaptive limit."
        );
        describe_counter!(
            "palisade_adaptive_drops_total",
            Unit::Count,
            "Calls under an adaptive limit that timed out or failed."
        );
        describe_counter!(
            "palisade_adaptive_rejected_total",
            Unit::Count,
            "Calls an adaptive limit turned away at its limit."
        );
        let a = name.to_string();
        Self {
            limit: gauge!("palisade_adaptive_limit", "adaptive" => a.clone()),
            in_flight: gauge!("palisade_adaptive_in_flight", "adaptive" => a.clone()),
            drops: counter!("palisade_adaptive_drops_total", "adaptive" => a.clone()),
            rejected: counter!("palisade_adaptive_rejected_total", "adaptive" => a),
        }
    }

    /// Publishes a snapshot.
    pub(crate) fn publish(&self, m: &AdaptiveMetrics) {
        self.limit.set(f64::from(m.limit));
        self.in_flight.set(f64::from(m.in_flight));
        self.drops.absolute(m.drops);
        self.rejected.absolute(m.rejections);
    }
}
