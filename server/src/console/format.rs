//! How the console writes times, sizes and counts for a person: relative times ("in 3 h",
//! "2 min ago") with the exact time in the admin's time zone on hover, sizes in KB/MB,
//! numbers grouped as the language writes them. Pure functions of their inputs.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::messages::{fill, Lang, M};
use super::view::esc;

/// What a page needs to write times: the language, the admin's zone and "now".
#[derive(Debug, Clone, Copy)]
pub struct Locale {
    pub lang: Lang,
    pub tz: Tz,
    pub now: DateTime<Utc>,
}

impl Locale {
    pub fn t(&self, m: M) -> &'static str {
        m.text(self.lang)
    }

    /// A stored time as `<time>`: relative text, the exact local time on hover. An
    /// unparsable value is shown as it is (escaped); none is a dash.
    pub fn time(&self, at: Option<&str>) -> String {
        let Some(at) = at else {
            return self.t(M::Dash).into();
        };
        match DateTime::parse_from_rfc3339(at) {
            Ok(t) => {
                let t = t.with_timezone(&Utc);
                format!(
                    "<time datetime=\"{}\" title=\"{}\">{}</time>",
                    esc(&t.to_rfc3339()),
                    esc(&self.exact(t)),
                    esc(&self.relative(t))
                )
            }
            Err(_) => esc(at),
        }
    }

    /// "25 Nov 2026, 21:04 CET" / "25.11.2026, 21:04 CET".
    pub fn exact(&self, t: DateTime<Utc>) -> String {
        let local = t.with_timezone(&self.tz);
        match self.lang {
            Lang::En => local.format("%-d %b %Y, %H:%M:%S %Z").to_string(),
            Lang::Pl => local.format("%d.%m.%Y, %H:%M:%S %Z").to_string(),
        }
    }

    /// "in 3 h", "2 min ago", "just now"; beyond a week the date.
    pub fn relative(&self, t: DateTime<Utc>) -> String {
        let secs = (t - self.now).num_seconds();
        let ago = secs < 0;
        let s = secs.unsigned_abs();
        if s < 45 {
            return self.t(M::JustNow).into();
        }
        if s >= 7 * 86_400 {
            let local = t.with_timezone(&self.tz);
            return match self.lang {
                Lang::En => local.format("%-d %b %Y").to_string(),
                Lang::Pl => local.format("%d.%m.%Y").to_string(),
            };
        }
        let n = |m: M, v: u64| fill(self.lang, m, &[("n", &v.to_string())]);
        let d = if s < 90 * 60 {
            n(M::UnitMin, (s + 30) / 60)
        } else if s < 36 * 3600 {
            n(M::UnitHour, (s + 1800) / 3600)
        } else {
            n(M::UnitDay, (s + 43_200) / 86_400)
        };
        fill(
            self.lang,
            if ago { M::InPast } else { M::InFuture },
            &[("d", &d)],
        )
    }

    /// 1999 → "1,999" / "1 999" (a no-break space, as Polish groups digits).
    pub fn count(&self, n: u64) -> String {
        let sep = match self.lang {
            Lang::En => ",",
            Lang::Pl => "\u{a0}",
        };
        let digits = n.to_string();
        if self.lang == Lang::Pl && digits.len() <= 4 {
            // Polish leaves four-digit numbers ungrouped.
            return digits;
        }
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push_str(sep);
            }
            out.push(c);
        }
        out
    }

    /// How long a run took: "850 ms", "1.2 s" / "1,2 s", "14 s", "2 min 5 s".
    pub fn duration(&self, ms: u64) -> String {
        if ms < 1000 {
            return format!("{ms} ms");
        }
        if ms < 10_000 {
            let tenths = (ms + 50) / 100;
            let sep = match self.lang {
                Lang::En => '.',
                Lang::Pl => ',',
            };
            return format!("{}{sep}{} s", tenths / 10, tenths % 10);
        }
        let secs = (ms + 500) / 1000;
        if secs < 60 {
            return format!("{secs} s");
        }
        match secs % 60 {
            0 => format!("{} min", secs / 60),
            s => format!("{} min {s} s", secs / 60),
        }
    }

    /// 1536 → "1.5 KB" / "1,5 KB" (powers of 1024, one decimal below 10).
    pub fn size(&self, bytes: u64) -> String {
        const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
        if bytes < 1024 {
            return format!("{} B", bytes);
        }
        let mut v = bytes as f64;
        let mut unit = 0;
        while v >= 1024.0 && unit < UNITS.len() - 1 {
            v /= 1024.0;
            unit += 1;
        }
        let text = if v < 10.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.0}")
        };
        let text = match self.lang {
            Lang::En => text,
            Lang::Pl => text.replace('.', ","),
        };
        format!("{text} {}", UNITS[unit])
    }
}

/// The zone a browser named, if it is one we know (`Europe/Warsaw`); UTC otherwise.
pub fn zone(name: Option<&str>) -> Tz {
    name.and_then(|n| n.parse().ok()).unwrap_or(Tz::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(lang: Lang, tz: &str) -> Locale {
        Locale {
            lang,
            tz: zone(Some(tz)),
            now: Utc.with_ymd_and_hms(2026, 11, 25, 20, 0, 0).unwrap(),
        }
    }

    #[test]
    fn relative_times_read_both_ways_in_both_languages() {
        let en = at(Lang::En, "UTC");
        let pl = at(Lang::Pl, "UTC");
        let t = |h: i64, m: i64| en.now + chrono::Duration::minutes(h * 60 + m);
        assert_eq!(en.relative(t(3, 0)), "in 3 h");
        assert_eq!(en.relative(t(0, -2)), "2 min ago");
        assert_eq!(pl.relative(t(0, -2)), "2 min temu");
        assert_eq!(pl.relative(t(3, 0)), "za 3 godz.");
        assert_eq!(en.relative(t(0, 0)), "just now");
        assert_eq!(en.relative(t(-24, 0)), "24 h ago");
        assert_eq!(en.relative(t(-40, 0)), "2 d ago");
        assert_eq!(en.relative(t(-72, 0)), "3 d ago");
        assert_eq!(en.relative(t(-24 * 30, 0)), "26 Oct 2026");
        assert_eq!(pl.relative(t(-24 * 30, 0)), "26.10.2026");
    }

    #[test]
    fn the_exact_time_is_in_the_admins_zone() {
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 19, 4, 5).unwrap();
        assert_eq!(
            at(Lang::En, "Europe/Warsaw").exact(t),
            "25 Nov 2026, 20:04:05 CET"
        );
        assert_eq!(
            at(Lang::Pl, "Europe/Warsaw").exact(t),
            "25.11.2026, 20:04:05 CET"
        );
        assert_eq!(
            at(Lang::En, "nowhere").exact(t),
            "25 Nov 2026, 19:04:05 UTC"
        );
        let html = at(Lang::En, "UTC").time(Some("2026-11-25T19:04:05.000Z"));
        assert!(
            html.starts_with(
                "<time datetime=\"2026-11-25T19:04:05+00:00\" title=\"25 Nov 2026, 19:04:05 UTC\">"
            ),
            "{html}"
        );
        assert_eq!(at(Lang::En, "UTC").time(None), "—");
        assert_eq!(at(Lang::En, "UTC").time(Some("<b>")), "&lt;b&gt;");
    }

    #[test]
    fn sizes_and_counts_are_written_for_the_language() {
        let en = at(Lang::En, "UTC");
        let pl = at(Lang::Pl, "UTC");
        assert_eq!(en.size(512), "512 B");
        assert_eq!(en.size(1536), "1.5 KB");
        assert_eq!(pl.size(1536), "1,5 KB");
        assert_eq!(en.size(403 * 1024), "403 KB");
        assert_eq!(en.size(5 * 1024 * 1024 + 1), "5.0 MB");
        assert_eq!(en.count(1999), "1,999");
        assert_eq!(pl.count(1999), "1999");
        assert_eq!(pl.count(100_000), "100\u{a0}000");
        assert_eq!(en.count(999), "999");
        assert_eq!(en.count(1_234_567), "1,234,567");
    }

    #[test]
    fn durations_read_as_a_person_says_them() {
        let en = at(Lang::En, "UTC");
        let pl = at(Lang::Pl, "UTC");
        assert_eq!(en.duration(0), "0 ms");
        assert_eq!(en.duration(850), "850 ms");
        assert_eq!(en.duration(1234), "1.2 s");
        assert_eq!(pl.duration(1234), "1,2 s");
        assert_eq!(en.duration(9_960), "10.0 s");
        assert_eq!(en.duration(14_400), "14 s");
        assert_eq!(en.duration(59_400), "59 s");
        assert_eq!(en.duration(59_600), "1 min");
        assert_eq!(pl.duration(125_000), "2 min 5 s");
    }
}
