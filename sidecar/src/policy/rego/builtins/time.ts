/** time.* built-ins. Times are int64 nanoseconds since the epoch (bigint when large), as in OPA. */
import { isNumber, normInt, numValue, type Value } from '../value.js';
import { intOf } from './numbers.js';
import { type BuiltinTable, builtinErr, def, int, str, typeErr } from './types.js';

const NS_PER_MS = 1_000_000n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function utcMs(y: number, mo: number, d: number, h: number, mi: number, s: number): number {
  const dt = new Date(0);
  dt.setUTCFullYear(y, mo - 1, d);
  dt.setUTCHours(h, mi, s, 0);
  return dt.getTime();
}

export function parseRFC3339(s: string): bigint {
  const m = RFC3339.exec(s);
  if (!m)
    builtinErr(
      `parsing time ${JSON.stringify(s)} as ${JSON.stringify('2006-01-02T15:04:05Z07:00')}: cannot parse ${JSON.stringify(s)} as ${JSON.stringify('2006')}`,
    );
  const [, y, mo, d, h, mi, se, frac, zone] = m;
  const nums = [y, mo, d, h, mi, se].map(Number) as [number, number, number, number, number, number];
  if (nums[1] < 1 || nums[1] > 12) builtinErr(`parsing time ${JSON.stringify(s)}: month out of range`);
  if (nums[2] < 1 || nums[2] > 31) builtinErr(`parsing time ${JSON.stringify(s)}: day out of range`);
  if (nums[3] > 23 || nums[4] > 59 || nums[5] > 59)
    builtinErr(`parsing time ${JSON.stringify(s)}: hour out of range`);
  let ns = BigInt(utcMs(...nums)) * NS_PER_MS;
  if (frac) ns += BigInt(frac.slice(1, 10).padEnd(9, '0'));
  if (zone && zone !== 'Z' && zone !== 'z') {
    const sign = zone[0] === '-' ? -1n : 1n;
    const off = BigInt(Number(zone.slice(1, 3)) * 3600 + Number(zone.slice(4, 6)) * 60) * 1_000_000_000n;
    ns -= sign * off;
  }
  if (ns < INT64_MIN || ns > INT64_MAX) builtinErr('time outside of valid range');
  return ns;
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

function parseDuration(s: string): number | bigint {
  const orig = s;
  let neg = false;
  if (s[0] === '-' || s[0] === '+') {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') builtinErr(`time: invalid duration ${JSON.stringify(orig)}`);
  let total = 0;
  const re = /^(\d*\.?\d*)([a-zµμ]+)/;
  while (s.length > 0) {
    const m = re.exec(s);
    if (!m || m[1] === '' || m[1] === '.') builtinErr(`time: invalid duration ${JSON.stringify(orig)}`);
    const unit = DURATION_UNITS[m[2]!];
    if (unit === undefined)
      builtinErr(`time: unknown unit ${JSON.stringify(m[2])} in duration ${JSON.stringify(orig)}`);
    total += Number(m[1]) * unit;
    s = s.slice(m[0].length);
  }
  const r = Math.round(neg ? -total : total);
  return Number.isSafeInteger(r) ? r : normInt(BigInt(r));
}

/** Offset in ms of an IANA zone at a UTC instant (Intl knows the tz database). */
function zoneOffsetMs(tz: string, ms: number): number {
  if (tz === '' || tz === 'UTC') return 0;
  let fmt: Intl.DateTimeFormat;
  try {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: tz === 'Local' ? undefined : tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch {
    return builtinErr(`unknown time zone ${tz}`);
  }
  const parts = Object.fromEntries(fmt.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  const local = utcMs(
    Number(parts.year),
    Number(parts.month),
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
    Number(parts.second),
  );
  return local - Math.floor(ms / 1000) * 1000;
}

interface Wall {
  /** The zone's wall clock, read with getUTC*. */
  date: Date;
  /** Nanoseconds below the millisecond. */
  nsRem: bigint;
  offsetMs: number;
  tz: string;
  layout: string | undefined;
}

/** `ns`, `[ns, tz]` or (time.format) `[ns, tz, layout]`. */
function wallClock(v: Value, name: string, allowLayout = false): Wall {
  let nsV: Value = v;
  let tz = 'UTC';
  let layout: string | undefined;
  if (Array.isArray(v)) {
    if (v.length !== 2 && !(allowLayout && v.length === 3))
      builtinErr(`${name}: operand 1 must be number or [number, string]`);
    nsV = v[0]!;
    if (typeof v[1] !== 'string') typeErr(1, 'string', v[1]!);
    tz = v[1];
    if (v.length === 3) {
      if (typeof v[2] !== 'string') typeErr(1, 'string', v[2]!);
      layout = v[2];
    }
  }
  if (!isNumber(nsV)) return typeErr(1, 'number', nsV);
  const ns = intOf(numValue(nsV)) ?? BigInt(Math.trunc(Number(numValue(nsV))));
  if (ns > INT64_MAX || ns < INT64_MIN) builtinErr('timestamp too big');
  let ms = ns / NS_PER_MS;
  let rem = ns % NS_PER_MS;
  if (rem < 0n) {
    ms -= 1n;
    rem += NS_PER_MS;
  }
  const msN = Number(ms);
  const offsetMs = zoneOffsetMs(tz, msN);
  return { date: new Date(msN + offsetMs), nsRem: rem, offsetMs, tz, layout };
}

function toNs(d: Date, rem: bigint, offsetMs = 0): Value {
  const ns = BigInt(d.getTime() - offsetMs) * NS_PER_MS + rem;
  if (ns < INT64_MIN || ns > INT64_MAX) builtinErr('time outside of valid range');
  return normInt(ns);
}

// ---- Go time layouts ----------------------------------------------------------------------------

const LAYOUTS: Record<string, string> = {
  ANSIC: 'Mon Jan _2 15:04:05 2006',
  UnixDate: 'Mon Jan _2 15:04:05 MST 2006',
  RubyDate: 'Mon Jan 02 15:04:05 -0700 2006',
  RFC822: '02 Jan 06 15:04 MST',
  RFC822Z: '02 Jan 06 15:04 -0700',
  RFC850: 'Monday, 02-Jan-06 15:04:05 MST',
  RFC1123: 'Mon, 02 Jan 2006 15:04:05 MST',
  RFC1123Z: 'Mon, 02 Jan 2006 15:04:05 -0700',
  RFC3339: '2006-01-02T15:04:05Z07:00',
  RFC3339Nano: '2006-01-02T15:04:05.999999999Z07:00',
  Kitchen: '3:04PM',
  Stamp: 'Jan _2 15:04:05',
  StampMilli: 'Jan _2 15:04:05.000',
  StampMicro: 'Jan _2 15:04:05.000000',
  StampNano: 'Jan _2 15:04:05.000000000',
  DateTime: '2006-01-02 15:04:05',
  DateOnly: '2006-01-02',
  TimeOnly: '15:04:05',
};
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const TOKENS = [
  'January',
  'Jan',
  'Monday',
  'Mon',
  'MST',
  '2006',
  '-07:00:00',
  '-0700',
  '-07:00',
  '-07',
  'Z07:00:00',
  'Z0700',
  'Z07:00',
  'Z07',
  '__2',
  '002',
  '_2',
  '01',
  '02',
  '03',
  '04',
  '05',
  '06',
  '15',
  'PM',
  'pm',
  '1',
  '2',
  '3',
  '4',
  '5',
];

type Tok = { lit: string } | { tok: string } | { frac: string };

function tokenizeLayout(layout: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  let lit = '';
  const flush = () => {
    if (lit) out.push({ lit });
    lit = '';
  };
  while (i < layout.length) {
    const fm = /^[.,](0+|9+)(?![0-9])/.exec(layout.slice(i));
    if (fm && /[0-9]/.test(layout[i - 1] ?? '')) {
      flush();
      out.push({ frac: fm[0] });
      i += fm[0].length;
      continue;
    }
    const t = TOKENS.find((x) => layout.startsWith(x, i));
    if (t) {
      flush();
      out.push({ tok: t });
      i += t.length;
    } else lit += layout[i++];
  }
  flush();
  return out;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

function offsetText(offMs: number, sep: string, withSec: boolean, short: boolean, z: boolean): string {
  if (z && offMs === 0) return 'Z';
  const sign = offMs < 0 ? '-' : '+';
  const total = Math.abs(Math.round(offMs / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  if (short) return `${sign}${pad2(h)}`;
  return `${sign}${pad2(h)}${sep}${pad2(m)}${withSec ? `${sep}${pad2(sec)}` : ''}`;
}

export function goFormat(w: Wall, layoutIn: string): string {
  const layout = LAYOUTS[layoutIn] ?? layoutIn;
  const d = w.date;
  const nanos = BigInt(d.getUTCMilliseconds()) * NS_PER_MS + w.nsRem;
  const y = d.getUTCFullYear();
  const mo = d.getUTCMonth();
  const h = d.getUTCHours();
  let out = '';
  for (const t of tokenizeLayout(layout)) {
    if ('lit' in t) out += t.lit;
    else if ('frac' in t) {
      const digits = t.frac.length - 1;
      const all = nanos.toString().padStart(9, '0');
      if (t.frac[1] === '0') out += t.frac[0] + all.slice(0, digits);
      else {
        const trimmed = all.slice(0, digits).replace(/0+$/, '');
        if (trimmed) out += t.frac[0] + trimmed;
      }
    } else {
      switch (t.tok) {
        case 'January':
          out += MONTHS[mo];
          break;
        case 'Jan':
          out += MONTHS[mo]!.slice(0, 3);
          break;
        case 'Monday':
          out += DAYS[d.getUTCDay()];
          break;
        case 'Mon':
          out += DAYS[d.getUTCDay()]!.slice(0, 3);
          break;
        case 'MST':
          out +=
            w.offsetMs === 0 && (w.tz === 'UTC' || w.tz === '')
              ? 'UTC'
              : offsetText(w.offsetMs, '', false, false, false);
          break;
        case '2006':
          out += String(y).padStart(4, '0');
          break;
        case '06':
          out += pad2(y % 100);
          break;
        case '01':
          out += pad2(mo + 1);
          break;
        case '1':
          out += String(mo + 1);
          break;
        case '02':
          out += pad2(d.getUTCDate());
          break;
        case '2':
          out += String(d.getUTCDate());
          break;
        case '_2':
          out += String(d.getUTCDate()).padStart(2, ' ');
          break;
        case '__2':
        case '002': {
          const doy = Math.floor((Date.UTC(y, mo, d.getUTCDate()) - Date.UTC(y, 0, 1)) / 86400000) + 1;
          out += t.tok === '002' ? String(doy).padStart(3, '0') : String(doy).padStart(3, ' ');
          break;
        }
        case '15':
          out += pad2(h);
          break;
        case '03':
          out += pad2(h % 12 === 0 ? 12 : h % 12);
          break;
        case '3':
          out += String(h % 12 === 0 ? 12 : h % 12);
          break;
        case '04':
          out += pad2(d.getUTCMinutes());
          break;
        case '4':
          out += String(d.getUTCMinutes());
          break;
        case '05':
          out += pad2(d.getUTCSeconds());
          break;
        case '5':
          out += String(d.getUTCSeconds());
          break;
        case 'PM':
          out += h >= 12 ? 'PM' : 'AM';
          break;
        case 'pm':
          out += h >= 12 ? 'pm' : 'am';
          break;
        case '-0700':
          out += offsetText(w.offsetMs, '', false, false, false);
          break;
        case '-07:00':
          out += offsetText(w.offsetMs, ':', false, false, false);
          break;
        case '-07':
          out += offsetText(w.offsetMs, '', false, true, false);
          break;
        case '-07:00:00':
          out += offsetText(w.offsetMs, ':', true, false, false);
          break;
        case 'Z0700':
          out += offsetText(w.offsetMs, '', false, false, true);
          break;
        case 'Z07:00':
          out += offsetText(w.offsetMs, ':', false, false, true);
          break;
        case 'Z07':
          out += offsetText(w.offsetMs, '', false, true, true);
          break;
        case 'Z07:00:00':
          out += offsetText(w.offsetMs, ':', true, false, true);
          break;
      }
    }
  }
  return out;
}

/** Go's time.Parse for the layout elements above; zone abbreviations other than UTC/GMT count as UTC. */
export function goParse(layoutIn: string, value: string): bigint {
  const layout = LAYOUTS[layoutIn] ?? layoutIn;
  let i = 0;
  let y = 1;
  let mo = 1;
  let day = 1;
  let h = 0;
  let mi = 0;
  let sec = 0;
  let nanos = 0n;
  let pm: boolean | undefined;
  let off = 0;
  const fail = (): never =>
    builtinErr(`parsing time ${JSON.stringify(value)} as ${JSON.stringify(layoutIn)}: cannot parse`);
  const num = (min: number, max: number): number => {
    const m = new RegExp(`^\\d{${min},${max}}`).exec(value.slice(i));
    if (!m) return fail();
    i += m[0].length;
    return Number(m[0]);
  };
  const zone = (colon: boolean, allowZ: boolean, short: boolean): void => {
    if (allowZ && value[i] === 'Z') {
      i++;
      return;
    }
    const re = short ? /^([+-])(\d{2})/ : colon ? /^([+-])(\d{2}):(\d{2})/ : /^([+-])(\d{2})(\d{2})/;
    const m = re.exec(value.slice(i));
    if (!m) fail();
    i += m![0].length;
    off = (m![1] === '-' ? -1 : 1) * (Number(m![2]) * 3600 + Number(m![3] ?? 0) * 60) * 1000;
  };
  for (const t of tokenizeLayout(layout)) {
    if ('lit' in t) {
      if (!value.startsWith(t.lit, i)) fail();
      i += t.lit.length;
      continue;
    }
    if ('frac' in t) {
      const m = /^[.,](\d+)/.exec(value.slice(i));
      if (m) {
        i += m[0].length;
        nanos = BigInt(m[1]!.slice(0, 9).padEnd(9, '0'));
      } else if (t.frac[1] === '0') fail();
      continue;
    }
    switch (t.tok) {
      case 'January':
      case 'Jan': {
        const idx = MONTHS.findIndex((m) => value.startsWith(t.tok === 'Jan' ? m.slice(0, 3) : m, i));
        if (idx < 0) fail();
        i += t.tok === 'Jan' ? 3 : MONTHS[idx]!.length;
        mo = idx + 1;
        break;
      }
      case 'Monday':
      case 'Mon': {
        const dname = DAYS.find((dn) => value.startsWith(t.tok === 'Mon' ? dn.slice(0, 3) : dn, i));
        if (!dname) fail();
        i += t.tok === 'Mon' ? 3 : dname!.length;
        break;
      }
      case 'MST': {
        const m = /^[A-Z]{3,5}/.exec(value.slice(i));
        if (!m) fail();
        i += m![0].length;
        break;
      }
      case '2006':
        y = num(4, 4);
        break;
      case '06':
        y = 2000 + num(2, 2);
        if (y >= 2069) y -= 100;
        break;
      case '01':
        mo = num(2, 2);
        break;
      case '1':
        mo = num(1, 2);
        break;
      case '02':
        day = num(2, 2);
        break;
      case '_2':
        if (value[i] === ' ') i++;
        day = num(1, 2);
        break;
      case '2':
        day = num(1, 2);
        break;
      case '15':
        h = num(2, 2);
        break;
      case '03':
        h = num(2, 2);
        break;
      case '3':
        h = num(1, 2);
        break;
      case '04':
        mi = num(2, 2);
        break;
      case '4':
        mi = num(1, 2);
        break;
      case '05':
        sec = num(2, 2);
        break;
      case '5':
        sec = num(1, 2);
        break;
      case 'PM':
      case 'pm': {
        const ap = value.slice(i, i + 2).toUpperCase();
        if (ap !== 'AM' && ap !== 'PM') fail();
        pm = ap === 'PM';
        i += 2;
        break;
      }
      case '-0700':
        zone(false, false, false);
        break;
      case '-07:00':
        zone(true, false, false);
        break;
      case '-07':
        zone(false, false, true);
        break;
      case 'Z0700':
        zone(false, true, false);
        break;
      case 'Z07:00':
        zone(true, true, false);
        break;
      case 'Z07':
        zone(false, true, true);
        break;
      default:
        fail();
    }
  }
  if (i !== value.length)
    builtinErr(`parsing time ${JSON.stringify(value)}: extra text: ${JSON.stringify(value.slice(i))}`);
  if (pm !== undefined) {
    if (pm && h < 12) h += 12;
    if (!pm && h === 12) h = 0;
  }
  if (mo < 1 || mo > 12) builtinErr(`parsing time ${JSON.stringify(value)}: month out of range`);
  if (day < 1 || day > 31) builtinErr(`parsing time ${JSON.stringify(value)}: day out of range`);
  const ns = BigInt(utcMs(y, mo, day, h, mi, sec) - off) * NS_PER_MS + nanos;
  if (ns < INT64_MIN || ns > INT64_MAX) builtinErr('time outside of valid range');
  return ns;
}

/** OPA's time.diff: calendar difference [y, m, d, h, min, s] between two instants. */
function timeDiff(a: Wall, b: Wall): Value {
  // Both in the first time's zone, earlier one first.
  const ta = a.date.getTime() - a.offsetMs;
  const tb = b.date.getTime() - b.offsetMs;
  const t1 = new Date(Math.min(ta, tb) + a.offsetMs);
  const t2 = new Date(Math.max(ta, tb) + a.offsetMs);
  let year = t2.getUTCFullYear() - t1.getUTCFullYear();
  let month = t2.getUTCMonth() - t1.getUTCMonth();
  let day = t2.getUTCDate() - t1.getUTCDate();
  let hour = t2.getUTCHours() - t1.getUTCHours();
  let min = t2.getUTCMinutes() - t1.getUTCMinutes();
  let sec = t2.getUTCSeconds() - t1.getUTCSeconds();
  if (sec < 0) {
    sec += 60;
    min--;
  }
  if (min < 0) {
    min += 60;
    hour--;
  }
  if (hour < 0) {
    hour += 24;
    day--;
  }
  if (day < 0) {
    // Days in t1's month: day 32 of it overflows into the next month by (32 - days) days.
    const overflow = new Date(Date.UTC(t1.getUTCFullYear(), t1.getUTCMonth(), 32)).getUTCDate();
    day += 32 - overflow;
    month--;
  }
  if (month < 0) {
    month += 12;
    year--;
  }
  return [year, month, day, hour, min, sec];
}

export const timeBuiltins: BuiltinTable = {
  'time.now_ns': def('time.now_ns', 0, (_a, ctx) => normInt(ctx.nowNs())),
  'time.parse_rfc3339_ns': def('time.parse_rfc3339_ns', 1, (a) => normInt(parseRFC3339(str(a, 0)))),
  'time.parse_duration_ns': def('time.parse_duration_ns', 1, (a) => parseDuration(str(a, 0))),
  'time.date': def('time.date', 1, (a) => {
    const { date } = wallClock(a[0]!, 'time.date');
    return [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
  }),
  'time.clock': def('time.clock', 1, (a) => {
    const { date } = wallClock(a[0]!, 'time.clock');
    return [date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()];
  }),
  'time.weekday': def('time.weekday', 1, (a) => DAYS[wallClock(a[0]!, 'time.weekday').date.getUTCDay()]!),
  'time.add_date': def('time.add_date', 4, (a) => {
    const { date, nsRem, offsetMs } = wallClock(a[0]!, 'time.add_date');
    const d = new Date(date.getTime());
    d.setUTCFullYear(d.getUTCFullYear() + int(a, 1), d.getUTCMonth() + int(a, 2), d.getUTCDate() + int(a, 3));
    return toNs(d, nsRem, offsetMs);
  }),
  'time.format': def('time.format', 1, (a) => {
    const w = wallClock(a[0]!, 'time.format', true);
    return goFormat(w, w.layout ?? 'RFC3339Nano');
  }),
  'time.parse_ns': def('time.parse_ns', 2, (a) => normInt(goParse(str(a, 0), str(a, 1)))),
  'time.diff': def('time.diff', 2, (a) =>
    timeDiff(wallClock(a[0]!, 'time.diff'), wallClock(a[1]!, 'time.diff')),
  ),
};
