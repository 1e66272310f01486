//! When to draw. The screen is drawn only after something it shows changed, and at most once
//! per frame interval: a burst of thousands of message-file lines costs one frame, and an idle
//! screen costs nothing but what a visible clock needs (the step timer, at most once a second).

use std::time::{Duration, Instant};

/// The shortest time between two frames: 30 frames a second, more than a person reads.
pub const FRAME: Duration = Duration::from_millis(33);

/// The frame pacer: a dirty flag and the time of the last frame.
#[derive(Debug, Clone)]
pub struct Frames {
    interval: Duration,
    dirty: bool,
    /// The last frame, or when the pacer was made (the first frame is due at once).
    last: Instant,
}

impl Frames {
    /// A pacer that draws at most once per `interval`; the first frame is due at once.
    pub fn new(interval: Duration) -> Frames {
        Frames {
            interval,
            dirty: true,
            last: Instant::now() - interval,
        }
    }

    /// Something the screen shows changed: a frame is due.
    pub fn changed(&mut self) {
        self.dirty = true;
    }

    /// When the next frame is due (`None`: nothing changed, nothing to draw). A time in the
    /// past means now.
    pub fn due(&self) -> Option<Instant> {
        if !self.dirty {
            return None;
        }
        Some(self.last + self.interval)
    }

    /// True when a frame should be drawn at `now`.
    pub fn ready(&self, now: Instant) -> bool {
        self.due().is_some_and(|d| d <= now)
    }

    /// A frame was drawn at `now`.
    pub fn drawn(&mut self, now: Instant) {
        self.dirty = false;
        self.last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draws as the event loop does for changes arriving at `times` (ms from the start), and
    /// returns when frames were drawn (ms). The loop wakes for each change and for a due frame.
    fn simulate(times: &[u64], end_ms: u64) -> Vec<u64> {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut f = Frames::new(FRAME);
        f.drawn(t0);
        let mut drawn = Vec::new();
        let mut next = times.iter().peekable();
        let mut now = 0;
        while now <= end_ms {
            while next.peek().is_some_and(|&&t| t <= now) {
                next.next();
                f.changed();
            }
            if f.ready(at(now)) {
                f.drawn(at(now));
                drawn.push(now);
            }
            now += 1;
        }
        drawn
    }

    #[test]
    fn a_burst_of_changes_costs_at_most_one_frame_per_interval() {
        // 2,000 changes in one second (a line every half millisecond, two per ms).
        let times: Vec<u64> = (0..2000).map(|i| i / 2).collect();
        let drawn = simulate(&times, 1000);
        assert!(drawn.len() <= 31, "{} frames in one second", drawn.len());
        assert!(
            drawn.len() >= 25,
            "only {} frames in one second",
            drawn.len()
        );
        for w in drawn.windows(2) {
            assert!(w[1] - w[0] >= 33, "frames {} ms apart", w[1] - w[0]);
        }
        // The last change is on screen within a frame.
        assert!(*drawn.last().unwrap() >= 999 - 33);
    }

    #[test]
    fn nothing_changed_nothing_drawn() {
        assert!(simulate(&[], 5000).is_empty());
        let mut f = Frames::new(FRAME);
        f.drawn(Instant::now());
        assert_eq!(f.due(), None);
    }

    #[test]
    fn a_change_after_a_quiet_spell_is_drawn_at_once() {
        assert_eq!(simulate(&[2000], 3000), vec![2000]);
    }

    #[test]
    fn the_first_frame_is_due_at_once() {
        let f = Frames::new(FRAME);
        assert!(f.ready(Instant::now()));
    }
}
