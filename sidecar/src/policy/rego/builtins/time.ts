/** time.* built-ins. Times are int64 nanoseconds since the epoch (bigint when large), as in OPA. */
import { isNumber, normInt, type Value } from '../value.js';
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

/** `ns` or `[ns, tz]` → a Date shifted to the zone's wall clock (read with getUTC*). */
function wallClock(v: Value, name: string): { date: Date; nsRem: bigint } {
  let nsV: Value = v;
  let tz = 'UTC';
  if (Array.isArray(v)) {
    if (v.length !== 2) builtinErr(`${name}: operand 1 must be number or [number, string]`);
    nsV = v[0]!;
    if (typeof v[1] !== 'string') typeErr(1, 'string', v[1]!);
    tz = v[1];
  }
  if (!isNumber(nsV)) return typeErr(1, 'number', nsV);
  const ns = intOf(nsV) ?? BigInt(Math.trunc(Number(nsV)));
  let ms = ns / NS_PER_MS;
  let rem = ns % NS_PER_MS;
  if (rem < 0n) {
    ms -= 1n;
    rem += NS_PER_MS;
  }
  if (ns > INT64_MAX || ns < INT64_MIN) builtinErr('timestamp too big');
  const msN = Number(ms);
  return { date: new Date(msN + zoneOffsetMs(tz, msN)), nsRem: rem };
}

function toNs(d: Date, rem: bigint): Value {
  const ns = BigInt(d.getTime()) * NS_PER_MS + rem;
  if (ns < INT64_MIN || ns > INT64_MAX) builtinErr('time outside of valid range');
  return normInt(ns);
}

function formatRFC3339Nano(d: Date, rem: bigint): string {
  const iso = d.toISOString();
  const base = iso.slice(0, 19);
  const nanos = BigInt(d.getUTCMilliseconds()) * NS_PER_MS + rem;
  const frac = nanos === 0n ? '' : `.${nanos.toString().padStart(9, '0').replace(/0+$/, '')}`;
  const y = d.getUTCFullYear();
  const yearText = y >= 0 && y <= 9999 ? base : `${y}${base.slice(base.indexOf('-', 1))}`;
  return `${yearText}${frac}Z`;
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
    const { date, nsRem } = wallClock(a[0]!, 'time.add_date');
    const d = new Date(date.getTime());
    d.setUTCFullYear(d.getUTCFullYear() + int(a, 1), d.getUTCMonth() + int(a, 2), d.getUTCDate() + int(a, 3));
    return toNs(d, nsRem);
  }),
  'time.format': def('time.format', 1, (a) => {
    const { date, nsRem } = wallClock(a[0]!, 'time.format');
    return formatRFC3339Nano(date, nsRem);
  }),
};
