package cron

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrSpec is matched (errors.Is) by every error of Parse.
var ErrSpec = errors.New("cron: bad schedule")

// Spec is a parsed schedule: the times at which it ticks.
type Spec struct {
	text  string
	every time.Duration // @every; the fields are unused
	loc   *time.Location

	minute, hour, dom, month, dow uint64 // bit i set: value i matches
	domAny, dowAny                bool   // the field was *
}

// Parse parses a schedule:
//
//   - five fields, minute hour day-of-month month day-of-week, each a *,
//     a number, a range a-b, a step */n or a-b/n or a/n, or a list of
//     these separated by commas; months and days may be named (JAN, MON);
//     day 7 is Sunday, as 0. When both day fields are restricted, a day
//     matches either (as in Vixie cron).
//   - a descriptor: @yearly (@annually), @monthly, @weekly, @daily
//     (@midnight), @hourly, or @every with a duration of at least one
//     second (@every 90s, @every 1h30m), whose ticks are the multiples of
//     the duration since the Unix epoch, so they do not depend on when the
//     schedule started.
//
// Times are UTC unless the schedule starts with CRON_TZ=Zone (or TZ=Zone),
// an IANA zone such as Europe/Paris.
func Parse(spec string) (*Spec, error) {
	s, err := parse(spec)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrSpec, spec, err)
	}
	return s, nil
}

func parse(text string) (*Spec, error) {
	s := &Spec{text: text, loc: time.UTC}
	rest := strings.TrimSpace(text)
	if zone, ok := strings.CutPrefix(rest, "CRON_TZ="); ok {
		rest = zone
	} else if zone, ok := strings.CutPrefix(rest, "TZ="); ok {
		rest = zone
	} else {
		rest = "UTC " + rest
	}
	zone, rest, _ := strings.Cut(rest, " ")
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "" || zone == "Local" {
		return nil, fmt.Errorf("unknown time zone %q", zone)
	}
	s.loc = loc
	rest = strings.TrimSpace(rest)
	if d, ok := strings.CutPrefix(rest, "@every"); ok {
		every, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			return nil, err
		}
		if every < time.Second {
			return nil, fmt.Errorf("@every %v: the interval must be at least 1s", every)
		}
		s.every = every
		return s, nil
	}
	if len(rest) > 0 && rest[0] == '@' {
		d, ok := descriptors[rest]
		if !ok {
			return nil, fmt.Errorf("unknown descriptor %s", rest)
		}
		rest = d
	}
	fields := strings.Fields(rest)
	if len(fields) != 5 {
		return nil, fmt.Errorf("%d fields, want 5 (minute hour day-of-month month day-of-week) or a descriptor", len(fields))
	}
	for i, dst := range []*uint64{&s.minute, &s.hour, &s.dom, &s.month, &s.dow} {
		f := ranges[i]
		v, err := field(fields[i], f)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", f.name, fields[i], err)
		}
		*dst = v
	}
	if s.dow&(1<<7) != 0 { // 7 is Sunday
		s.dow = s.dow&^(1<<7) | 1
	}
	s.domAny, s.dowAny = fields[2] == "*", fields[4] == "*"
	return s, nil
}

var descriptors = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

type bounds struct {
	name     string
	min, max int
	names    []string // names[i] is value min+i
}

var ranges = [5]bounds{
	{"minute", 0, 59, nil},
	{"hour", 0, 23, nil},
	{"day of month", 1, 31, nil},
	{"month", 1, 12, []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
	{"day of week", 0, 7, []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
}

// field parses one field into a bit set.
func field(text string, b bounds) (uint64, error) {
	var set uint64
	for part := range strings.SplitSeq(text, ",") {
		rng, step, hasStep := strings.Cut(part, "/")
		lo, hi := b.min, b.max
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, z, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = value(a, b); err != nil {
				return 0, err
			}
			if hi, err = value(z, b); err != nil {
				return 0, err
			}
			if lo > hi {
				return 0, fmt.Errorf("range %d-%d is backwards", lo, hi)
			}
		default:
			v, err := value(rng, b)
			if err != nil {
				return 0, err
			}
			lo, hi = v, v
			if hasStep {
				hi = b.max
			}
		}
		n := 1
		if hasStep {
			var err error
			n, err = strconv.Atoi(step)
			if err != nil || n <= 0 || n > b.max {
				return 0, fmt.Errorf("step %q: want 1..%d", step, b.max)
			}
		}
		for v := lo; v <= hi; v += n {
			set |= 1 << v
		}
	}
	return set, nil
}

func value(s string, b bounds) (int, error) {
	for i, n := range b.names {
		if strings.EqualFold(s, n) {
			return b.min + i, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < b.min || v > b.max {
		return 0, fmt.Errorf("%q is not a %s in %d..%d", s, b.name, b.min, b.max)
	}
	return v, nil
}

// String returns the schedule as it was written.
func (s *Spec) String() string { return s.text }

// Location is the time zone of the schedule's fields.
func (s *Spec) Location() *time.Location { return s.loc }

// horizon bounds the search for the next tick: a schedule that matches no
// day in that time (February 30) never ticks.
const horizon = 5

// Next returns the first tick strictly after t, in UTC, or the zero time
// if the schedule never ticks (it names a day that does not exist).
func (s *Spec) Next(t time.Time) time.Time {
	if s.every > 0 {
		d := int64(s.every)
		n := t.UnixNano()
		next := (n/d + 1) * d
		if n < 0 && n%d != 0 {
			next = (n / d) * d
		}
		return time.Unix(0, next).UTC()
	}
	from := wall(t.In(s.loc))
	// Truncate works on absolute time: right for zones whose offset is a
	// whole number of minutes, which all are today.
	t = t.In(s.loc).Truncate(time.Minute).Add(time.Minute)
	limit := t.Year() + horizon
	for t.Year() <= limit {
		switch {
		case s.month&(1<<uint(t.Month())) == 0:
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, s.loc)
		case !s.dayMatches(t):
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, s.loc)
		case s.hour&(1<<uint(t.Hour())) == 0:
			// Step in absolute time, so that an hour skipped or repeated
			// by a daylight-saving change is skipped or repeated here.
			t = t.Add(time.Hour - time.Duration(t.Minute())*time.Minute)
		case s.minute&(1<<uint(t.Minute())) == 0 || !wall(t).After(from):
			// The second pass through an hour that daylight saving
			// repeats: its times have ticked already.
			t = t.Add(time.Minute)
		default:
			return t.UTC()
		}
	}
	return time.Time{}
}

// wall is t's wall clock reading, as a time in UTC, for comparisons that
// ignore the zone's offset.
func wall(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

func (s *Spec) dayMatches(t time.Time) bool {
	dom := s.dom&(1<<uint(t.Day())) != 0
	dow := s.dow&(1<<uint(t.Weekday())) != 0
	if s.domAny || s.dowAny {
		return dom && dow
	}
	return dom || dow
}

// ticks returns how many ticks fall in (after, upTo], counting up to
// limit, and the last (up to) keep of them, in order.
func (s *Spec) ticks(after, upTo time.Time, keep, limit int) (n int, last []time.Time) {
	if s.every > 0 {
		first := s.Next(after)
		if first.IsZero() || first.After(upTo) {
			return 0, nil
		}
		total := int64(upTo.Sub(first)/s.every) + 1
		for i := max(0, total-int64(keep)); i < total; i++ {
			last = append(last, first.Add(time.Duration(i)*s.every))
		}
		return int(min(total, int64(limit))), last
	}
	for t := s.Next(after); !t.IsZero() && !t.After(upTo) && n < limit; t = s.Next(t) {
		n++
	}
	// The last ticks: look back from upTo over windows that double until
	// they hold keep ticks or reach after.
	for window := time.Hour; ; window *= 2 {
		from := upTo.Add(-window)
		if !from.After(after) {
			from = after
		}
		last = last[:0]
		for t := s.Next(from); !t.IsZero() && !t.After(upTo); t = s.Next(t) {
			last = append(last, t)
			if len(last) > keep {
				last = last[1:]
			}
		}
		if len(last) >= keep || from.Equal(after) {
			return n, last
		}
	}
}
