import type { Literal, Loc, ModuleAST, RuleAST, Term } from './ast.js';
import { locString } from './ast.js';
import { BUILTINS } from './builtins/index.js';
import type { BuiltinTable } from './builtins/types.js';
import { RegoCompileError, type RegoErrorDetail } from './errors.js';
import type { CRule, FnTarget, IExpr, IExprKind, IT, IWith, RuleNode } from './ir.js';
import { collectMocked, typeCheckQuery, typeCheckRule } from './type-check.js';
import { equal as equalConst, RObject, RSet, type Value } from './value.js';

/** Variable scope: a rule body, comprehension body, `every` body or negated body. */
class Scope {
  readonly vars = new Map<string, number>();
  /** Names written directly in this body (pre-pass), so closures can tell captured from local vars. */
  readonly names = new Set<string>();
  /** Names declared here with `:=`, `some` or as function arguments / `every` variables. */
  readonly declared = new Set<string>();
  readonly assigned = new Set<string>();

  constructor(
    readonly parent: Scope | undefined,
    readonly frame: Frame,
  ) {}
}

/** One evaluation frame (a rule or a query): all its scopes share the slot numbering. */
class Frame {
  nslots = 0;
  readonly owner: Scope[] = [];
  readonly names: string[] = [];
  readonly wildcard: boolean[] = [];

  alloc(scope: Scope, name: string, wildcard = false): number {
    const slot = this.nslots++;
    this.owner[slot] = scope;
    this.names[slot] = name;
    this.wildcard[slot] = wildcard;
    return slot;
  }
}

interface ModCtx {
  pkg: string[];
  imports: Map<string, { root: 'data' | 'input'; path: string[] }>;
  ruleNames: Set<string>;
}

export interface CompiledQuery {
  body: IExpr[];
  nslots: number;
  outputs: { name: string; slot: number }[];
}

function newNode(path: string[], id: number): RuleNode {
  return {
    path,
    name: ['data', ...path].join('.'),
    children: new Map(),
    complete: [],
    partial: [],
    funcs: [],
    defaultRule: undefined,
    arity: undefined,
    hasRules: false,
    id,
  };
}

const QUERY_CTX: ModCtx = { pkg: [], imports: new Map(), ruleNames: new Set() };

export class Compiler {
  readonly root: RuleNode = newNode([], 0);
  readonly nodes: RuleNode[] = [this.root];
  private errors: RegoErrorDetail[] = [];
  private deps = new Map<RuleNode, Set<RuleNode>>();
  private curDeps: Set<RuleNode> | undefined;
  /** Built-ins some module replaces with `with`: the type check leaves their calls alone. */
  private mocked = new Set<string>();
  /** `data` refs per rule node, resolved to rule nodes once every rule is placed. */
  private refDeps = new Map<RuleNode, IT[][]>();
  private curRefDeps: IT[][] | undefined;

  constructor(readonly builtins: BuiltinTable = BUILTINS) {}

  private err(message: string, loc: Loc | string): void {
    this.errors.push({ message, location: typeof loc === 'string' ? loc : locString(loc) });
  }

  private throwIfErrors(): void {
    if (this.errors.length > 0) {
      const errs = this.errors;
      this.errors = [];
      throw new RegoCompileError(errs);
    }
  }

  nodeAt(path: string[], create: boolean): RuleNode | undefined {
    let n = this.root;
    for (const seg of path) {
      let c = n.children.get(seg);
      if (c === undefined) {
        if (!create) return undefined;
        c = newNode([...n.path, seg], this.nodes.length);
        this.nodes.push(c);
        n.children.set(seg, c);
      }
      n = c;
    }
    return n;
  }

  compileModules(modules: ModuleAST[]): void {
    const rulesByPkg = new Map<string, Set<string>>();
    for (const m of modules) {
      const key = m.pkg.join('.');
      let s = rulesByPkg.get(key);
      if (!s) {
        s = new Set();
        rulesByPkg.set(key, s);
      }
      for (const r of m.rules) {
        const h = r.ref[0];
        if (h?.type === 'var') s.add(h.name);
      }
    }
    const pending: { rule: RuleAST; mod: ModCtx; node: RuleNode; keys: Term[] }[] = [];
    for (const m of modules) {
      if (m.pkg[0] !== 'data') {
        // `package foo` means data.foo; the parser keeps the written form.
      }
      const mod: ModCtx = {
        pkg: m.pkg,
        imports: new Map(),
        ruleNames: rulesByPkg.get(m.pkg.join('.')) ?? new Set(),
      };
      for (const imp of m.imports) {
        const path = importPath(imp.path);
        if (!path) {
          this.err('invalid import path', imp.loc);
          continue;
        }
        const [root, ...rest] = path;
        if (root === 'future' || root === 'rego') continue;
        if (root !== 'data' && root !== 'input') {
          this.err(`invalid import ${path.join('.')}: must begin with input or data`, imp.loc);
          continue;
        }
        const alias = imp.alias ?? rest[rest.length - 1] ?? root;
        mod.imports.set(alias, { root, path: rest });
      }
      for (const rule of m.rules) {
        const head = rule.ref[0];
        if (head?.type !== 'var') {
          this.err('invalid rule head', rule.loc);
          continue;
        }
        const staticPath = [...m.pkg, head.name];
        let i = 1;
        for (; i < rule.ref.length; i++) {
          const t = rule.ref[i]!;
          if (t.type === 'scalar' && typeof t.value === 'string') staticPath.push(t.value);
          else break;
        }
        const keys = rule.ref.slice(i);
        if (rule.kind === 'value' && rule.args === undefined && keys.length > 0 && rule.isDefault) {
          this.err('default rules must not have variables in their ref', rule.loc);
          continue;
        }
        const node = this.nodeAt(staticPath, true)!;
        pending.push({ rule, mod, node, keys });
      }
    }
    // Arities must be known before any body is compiled (calls are checked against them).
    for (const { rule, node } of pending) {
      if (rule.args !== undefined) {
        if (node.arity !== undefined && node.arity !== rule.args.length) {
          this.err(
            `function ${node.name} has arity ${node.arity}, got ${rule.args.length} arguments`,
            rule.loc,
          );
        }
        node.arity ??= rule.args.length;
      }
    }
    for (const p of pending) this.compileRule(p.rule, p.mod, p.node, p.keys);
    this.checkNodes();
    this.checkRecursion();
    // As in OPA, types are checked only once everything else is sound.
    if (this.errors.length === 0) this.typeCheck();
    this.throwIfErrors();
  }

  private rules(): CRule[] {
    const out: CRule[] = [];
    for (const n of this.nodes) {
      out.push(...n.complete, ...n.partial, ...n.funcs);
      if (n.defaultRule) out.push(n.defaultRule);
    }
    return out;
  }

  private typeCheck(): void {
    const rules = this.rules();
    this.mocked = collectMocked(rules);
    const report = (message: string, loc: string) => this.err(message, loc);
    for (const r of rules) typeCheckRule(r, this.mocked, report);
  }

  private checkNodes(): void {
    const mark = (n: RuleNode): boolean => {
      let any = n.complete.length + n.partial.length + n.funcs.length > 0 || n.defaultRule !== undefined;
      for (const c of n.children.values()) if (mark(c)) any = true;
      n.hasRules = any;
      return any;
    };
    mark(this.root);
    for (const n of this.nodes) {
      const loc = (n.complete[0] ?? n.partial[0] ?? n.funcs[0] ?? n.defaultRule)?.loc ?? '';
      const valueRules = n.complete.length + n.partial.length;
      if (n.funcs.length > 0 && valueRules > 0) this.err(`conflicting rules ${n.name} found`, loc);
      if (n.complete.length > 0 && n.partial.length > 0) this.err(`conflicting rules ${n.name} found`, loc);
      const kinds = new Set(
        n.partial.map((r) => (r.kind === 'contains' && r.keys.length === 0 ? 'set' : 'obj')),
      );
      if (kinds.size > 1) this.err(`conflicting rules ${n.name} found`, loc);
      if (n.defaultRule && n.partial.length > 0) this.err(`conflicting rules ${n.name} found`, loc);
      if (n.defaultRule && n.defaultRule.args === undefined && n.funcs.length > 0) {
        this.err(`conflicting rules ${n.name} found`, loc);
      }
      if (n.complete.length > 0 || n.funcs.length > 0) {
        for (const c of n.children.values()) {
          if (c.hasRules) this.err(`rule ${n.name} conflicts with [${c.name}]`, loc);
        }
      }
    }
  }

  private checkRecursion(): void {
    for (const [node, refs] of this.refDeps) {
      this.curDeps = this.deps.get(node);
      for (const ops of refs) this.depsOfDataRef(ops);
    }
    this.curDeps = undefined;
    const state = new Map<RuleNode, number>();
    const stack: RuleNode[] = [];
    const reported = new Set<RuleNode>();
    const visit = (n: RuleNode): void => {
      state.set(n, 1);
      stack.push(n);
      for (const d of this.deps.get(n) ?? []) {
        const s = state.get(d) ?? 0;
        if (s === 1) {
          if (!reported.has(d)) {
            reported.add(d);
            const cycle = stack.slice(stack.indexOf(d)).map((x) => x.name);
            const loc = (d.complete[0] ?? d.partial[0] ?? d.funcs[0] ?? d.defaultRule)?.loc ?? '';
            this.err(
              `rego_recursion_error: rule ${d.name} is recursive: ${[...cycle, d.name].join(' -> ')}`,
              loc,
            );
          }
        } else if (s === 0) visit(d);
      }
      stack.pop();
      state.set(n, 2);
    };
    for (const n of this.nodes) if ((state.get(n) ?? 0) === 0) visit(n);
  }

  private addDep(target: RuleNode): void {
    if (this.curDeps === undefined) return;
    const all = (n: RuleNode): void => {
      if (n.complete.length + n.partial.length + n.funcs.length > 0 || n.defaultRule) this.curDeps!.add(n);
      for (const c of n.children.values()) all(c);
    };
    all(target);
  }

  /** Dependencies of a `data` reference on rule nodes, for recursion checks. */
  private depsOfDataRef(ops: IT[]): void {
    const deps = this.curDeps;
    if (deps === undefined) return;
    const walk = (n: RuleNode, i: number): void => {
      if (n.complete.length + n.partial.length + n.funcs.length > 0 || n.defaultRule) {
        deps.add(n);
        return;
      }
      if (i === ops.length) {
        this.addDep(n);
        return;
      }
      const op = ops[i]!;
      if (op.t === 'const') {
        // Rule children are named by strings; any other key can only reach base data.
        const c = typeof op.v === 'string' ? n.children.get(op.v) : undefined;
        if (c) walk(c, i + 1);
        return;
      }
      // A dynamic key may select any child; the rest of the ref narrows it down.
      for (const c of n.children.values()) walk(c, i + 1);
    };
    walk(this.root, 0);
  }

  private compileRule(rule: RuleAST, mod: ModCtx, node: RuleNode, keyTerms: Term[]): void {
    const frame = new Frame();
    const argScope = new Scope(undefined, frame);
    const deps = this.deps.get(node) ?? new Set<RuleNode>();
    this.deps.set(node, deps);
    this.curDeps = deps;
    const refDeps = this.refDeps.get(node) ?? [];
    this.refDeps.set(node, refDeps);
    this.curRefDeps = refDeps;
    let args: IT[] | undefined;
    if (rule.args) args = rule.args.map((a) => this.pattern(a, argScope, mod, false));
    const loc = locString(rule.loc);
    const branch = (body: Literal[], value: Term | undefined, keys: Term[]) => {
      const scope = new Scope(argScope, frame);
      const { body: ibody, safe } = this.body(body, scope, mod);
      const ikeys = keys.map((k) => this.term(k, scope, mod));
      const ivalue: IT = value ? this.term(value, scope, mod) : { t: 'const', v: true };
      // Head refs iterate like body refs: `q(_) := xs[_]` binds its wildcard.
      for (const t of [...ikeys, ivalue]) refOuts(t, scope, safe);
      for (const t of [...ikeys, ivalue]) {
        for (const s of ownedSlots(t, scope)) {
          if (!safe.has(s)) this.err(`rego_unsafe_var_error: var ${frame.names[s]} is unsafe`, loc);
        }
      }
      return { body: ibody, keys: ikeys, value: ivalue };
    };
    const main = branch(rule.body, rule.value, keyTerms);
    const elses = rule.elses.map((e) => {
      const b = branch(e.body, e.value, []);
      return { value: b.value, body: b.body };
    });
    this.curDeps = undefined;
    this.curRefDeps = undefined;
    const crule: CRule = {
      loc,
      node,
      kind: rule.kind,
      keys: main.keys,
      value: main.value,
      args,
      body: main.body,
      elses,
      nslots: frame.nslots,
      isDefault: rule.isDefault,
      constValue: main.value.t === 'const' && elses.every((e) => e.value.t === 'const'),
    };
    if (rule.elses.length > 0 && (rule.kind === 'contains' || keyTerms.length > 0)) {
      this.err('else keyword cannot be used on multi-value rules', rule.loc);
    }
    if (rule.isDefault) {
      if (node.defaultRule) this.err(`multiple default rules ${node.name} found`, rule.loc);
      if (main.value.t !== 'const' && !isGroundIT(main.value)) {
        this.err(`default rule ${node.name} value must be ground`, rule.loc);
      }
      node.defaultRule = crule;
    } else if (rule.args !== undefined) node.funcs.push(crule);
    else if (rule.kind === 'contains' || keyTerms.length > 0) node.partial.push(crule);
    else node.complete.push(crule);
  }

  compileQuery(lits: Literal[]): CompiledQuery {
    const frame = new Frame();
    const scope = new Scope(undefined, frame);
    const { body } = this.body(lits, scope, QUERY_CTX);
    if (this.errors.length === 0) {
      const mocked = collectMocked([], body);
      for (const m of this.mocked) mocked.add(m);
      typeCheckQuery(body, mocked, (message, loc) => this.err(message, loc));
    }
    this.throwIfErrors();
    const outputs: { name: string; slot: number }[] = [];
    for (const [name, slot] of scope.vars) outputs.push({ name, slot });
    return { body, nslots: frame.nslots, outputs };
  }

  /** A ground term (e.g. a conformance case's `input_term`), evaluated without rules. */
  compileGroundTerm(t: Term): IT {
    const frame = new Frame();
    const it = this.term(t, new Scope(undefined, frame), QUERY_CTX);
    this.throwIfErrors();
    return it;
  }

  // ---- bodies ------------------------------------------------------------------------------

  /**
   * Collects the names a body uses freely (not its `:=` / `some` declarations, which only take
   * effect from the declaring literal on). A comprehension var with such a name is the outer var.
   */
  private prepass(lits: Literal[], scope: Scope): void {
    for (const lit of lits) {
      const e = lit.expr;
      switch (e.type) {
        case 'some':
          break;
        case 'somein':
          for (const n of termNames(e.domain)) scope.names.add(n);
          break;
        case 'unify':
          if (!e.assign) for (const n of termNames(e.lhs)) scope.names.add(n);
          for (const n of termNames(e.rhs)) scope.names.add(n);
          break;
        case 'term':
          for (const n of termNames(e.term)) scope.names.add(n);
          break;
        case 'every':
          for (const n of termNames(e.domain)) scope.names.add(n);
          break;
        case 'body':
          break;
      }
      for (const w of lit.withs) for (const n of termNames(w.value)) scope.names.add(n);
    }
  }

  private body(
    lits: Literal[],
    scope: Scope,
    mod: ModCtx,
    initialSafe?: Set<number>,
  ): { body: IExpr[]; safe: Set<number> } {
    this.prepass(lits, scope);
    const exprs: IExpr[] = [];
    for (const lit of lits) {
      const e = this.literal(lit, scope, mod);
      if (e) exprs.push(e);
    }
    return this.reorder(exprs, scope, initialSafe);
  }

  /** Declares a var from this literal on (`:=`, `some`, function args); it shadows outer vars. */
  private declare(name: string, scope: Scope, loc: Loc, assign: boolean): number {
    if (name === '_') return scope.frame.alloc(scope, '_', true);
    if (assign) {
      if (scope.assigned.has(name)) this.err(`rego_compile_error: var ${name} assigned above`, loc);
      else if (scope.vars.has(name)) this.err(`rego_compile_error: var ${name} referenced above`, loc);
      scope.assigned.add(name);
    }
    if (scope.declared.has(name) && !assign) return scope.vars.get(name)!;
    scope.declared.add(name);
    const slot = scope.frame.alloc(scope, name);
    scope.vars.set(name, slot);
    return slot;
  }

  private literal(lit: Literal, scope: Scope, mod: ModCtx): IExpr | undefined {
    const loc = locString(lit.loc);
    const e = lit.expr;
    let kind: IExprKind;
    switch (e.type) {
      case 'some':
        for (const v of e.vars) if (v.type === 'var') this.declare(v.name, scope, v.loc, false);
        // `some x` then `x = ...` later: the later uses must find this slot.
        return undefined;
      case 'somein': {
        const domain = this.term(e.domain, scope, mod);
        const key = e.key ? this.pattern(e.key, scope, mod, false) : undefined;
        const value = this.pattern(e.value, scope, mod, false);
        kind = { e: 'somein', key, value, domain };
        break;
      }
      case 'every': {
        const domain = this.term(e.domain, scope, mod);
        const inner = new Scope(scope, scope.frame);
        const key = e.key ? this.pattern(e.key, inner, mod, false) : undefined;
        const value = this.pattern(e.value, inner, mod, false);
        const bound = new Set<number>();
        if (key) patternSlots(key, inner, bound);
        patternSlots(value, inner, bound);
        const { body } = this.body(e.body, inner, mod, bound);
        kind = { e: 'every', key, value, domain, body };
        break;
      }
      case 'body': {
        const inner = new Scope(scope, scope.frame);
        const { body } = this.body(e.body, inner, mod);
        kind = { e: 'body', body };
        break;
      }
      case 'unify': {
        if (e.assign) {
          if (!isAssignable(e.lhs)) {
            this.err(`rego_compile_error: cannot assign to ${e.lhs.type}`, lit.loc);
            return undefined;
          }
          const b = this.term(e.rhs, scope, mod);
          const a = this.pattern(e.lhs, scope, mod, true);
          kind = { e: 'unify', a, b };
        } else {
          kind = { e: 'unify', a: this.term(e.lhs, scope, mod), b: this.term(e.rhs, scope, mod) };
        }
        break;
      }
      case 'term': {
        const t = e.term;
        if (t.type === 'call') {
          const c = this.call(t, scope, mod, true);
          if (c.out) kind = { e: 'callout', call: c.call, out: c.out };
          else kind = { e: 'term', term: c.call };
        } else kind = { e: 'term', term: this.term(t, scope, mod) };
        break;
      }
    }
    const withs = lit.withs
      .map((w) => this.with(w.target, w.value, scope, mod, w.loc))
      .filter((w) => w !== undefined);
    return { ...kind, negated: lit.negated, withs, loc };
  }

  private with(target: Term, value: Term, scope: Scope, mod: ModCtx, loc: Loc): IWith | undefined {
    const path = refNames(target);
    if (!path) {
      this.err(
        'rego_compile_error: with keyword target must reference existing input, data, or a function',
        loc,
      );
      return undefined;
    }
    const replacement = this.fnTargetOf(value, scope, mod);
    const ivalue: IT = replacement ? { t: 'const', v: null } : this.term(value, scope, mod);
    const [head, ...rest] = path;
    if (head === 'input')
      return { kind: 'input', path: rest, key: '', node: undefined, value: ivalue, replacement };
    let dataPath: string[] | undefined;
    if (head === 'data') dataPath = rest;
    else if (mod.imports.has(head!)) {
      const imp = mod.imports.get(head!)!;
      if (imp.root === 'input') {
        return {
          kind: 'input',
          path: [...imp.path, ...rest],
          key: '',
          node: undefined,
          value: ivalue,
          replacement,
        };
      }
      dataPath = [...imp.path, ...rest];
    } else if (mod.ruleNames.has(head!) && !isDeclared(head!, scope)) dataPath = [...mod.pkg, ...path];
    if (dataPath) {
      const node = this.nodeAt(dataPath, false);
      if (node && node.arity !== undefined) {
        return { kind: 'func', path: dataPath, key: node.name, node, value: ivalue, replacement };
      }
      return { kind: 'data', path: dataPath, key: '', node, value: ivalue, replacement: undefined };
    }
    const name = path.join('.');
    const b = this.builtins[name];
    if (b) return { kind: 'builtin', path, key: name, node: undefined, value: ivalue, replacement };
    this.err(
      `rego_compile_error: with keyword target must reference existing input, data, or a function`,
      loc,
    );
    return undefined;
  }

  /** When a term names a function (`with f as g`), the function it names. */
  private fnTargetOf(t: Term, scope: Scope, mod: ModCtx): FnTarget | undefined {
    const path = refNames(t);
    if (!path || isDeclared(path[0]!, scope)) return undefined;
    const name = path.join('.');
    const user = this.userFn(path, mod, scope);
    if (user) return user;
    if (path[0] === 'data' || path[0] === 'input') return undefined;
    if (mod.ruleNames.has(path[0]!) || mod.imports.has(path[0]!)) return undefined;
    const b = this.builtins[name];
    if (b) return { f: 'builtin', name, def: b };
    return undefined;
  }

  private userFn(path: string[], mod: ModCtx, scope: Scope): (FnTarget & { f: 'user' }) | undefined {
    let full: string[] | undefined;
    const head = path[0]!;
    if (head === 'data') full = path.slice(1);
    else if (mod.imports.has(head) && mod.imports.get(head)!.root === 'data')
      full = [...mod.imports.get(head)!.path, ...path.slice(1)];
    else if (mod.ruleNames.has(head) && !isDeclared(head, scope)) full = [...mod.pkg, ...path];
    if (!full) return undefined;
    const node = this.nodeAt(full, false);
    if (!node || node.arity === undefined) return undefined;
    return { f: 'user', name: node.name, path: full, node };
  }

  // ---- safety ------------------------------------------------------------------------------

  private reorder(
    exprs: IExpr[],
    scope: Scope,
    initialSafe?: Set<number>,
  ): { body: IExpr[]; safe: Set<number> } {
    const safe = new Set<number>(initialSafe);
    const out: IExpr[] = [];
    const remaining = [...exprs];
    while (remaining.length > 0) {
      let picked = -1;
      let pickedOuts: Set<number> | undefined;
      for (let i = 0; i < remaining.length; i++) {
        const e = remaining[i]!;
        const outs = exprOuts(e, scope, safe);
        const need = exprNeeds(e, scope);
        let ok = true;
        for (const s of need) {
          if (!safe.has(s) && !outs.has(s)) {
            ok = false;
            break;
          }
        }
        if (ok) {
          picked = i;
          pickedOuts = outs;
          break;
        }
      }
      if (picked < 0) {
        const reported = new Set<number>();
        for (const e of remaining) {
          const outs = exprOuts(e, scope, safe);
          for (const s of exprNeeds(e, scope)) {
            if (!safe.has(s) && !outs.has(s) && !reported.has(s)) {
              reported.add(s);
              this.err(`rego_unsafe_var_error: var ${scope.frame.names[s]} is unsafe`, e.loc);
            }
          }
        }
        out.push(...remaining);
        break;
      }
      const [e] = remaining.splice(picked, 1);
      out.push(e!);
      for (const s of pickedOuts!) safe.add(s);
    }
    return { body: out, safe };
  }

  // ---- terms -------------------------------------------------------------------------------

  /** A term in an assignment target / `some .. in` / `every` position: its vars are declared. */
  private pattern(t: Term, scope: Scope, mod: ModCtx, assign: boolean): IT {
    switch (t.type) {
      case 'var': {
        const slot = this.declare(t.name, scope, t.loc, assign);
        return { t: 'var', slot, name: t.name };
      }
      case 'array':
        return foldArray(t.items.map((x) => this.pattern(x, scope, mod, assign)));
      case 'object':
        return foldObject(
          t.entries.map(([k, v]) => [this.term(k, scope, mod), this.pattern(v, scope, mod, assign)]),
        );
      default:
        return this.term(t, scope, mod);
    }
  }

  private resolveVar(name: string, scope: Scope): number {
    const own = scope.vars.get(name);
    if (own !== undefined) return own;
    if (!scope.declared.has(name) && scope.parent && appearsInChain(scope.parent, name)) {
      return this.resolveVar(name, scope.parent);
    }
    const slot = scope.frame.alloc(scope, name);
    scope.vars.set(name, slot);
    return slot;
  }

  term(t: Term, scope: Scope, mod: ModCtx): IT {
    switch (t.type) {
      case 'scalar':
        return { t: 'const', v: t.value };
      case 'var': {
        if (t.name === '_') return { t: 'var', slot: scope.frame.alloc(scope, '_', true), name: '_' };
        if (isDeclared(t.name, scope))
          return { t: 'var', slot: this.resolveVar(t.name, scope), name: t.name };
        const g = this.global(t.name, mod, locString(t.loc));
        if (g) {
          if (g.t === 'ref' && g.head.h === 'data') this.curRefDeps?.push(g.ops);
          return g;
        }
        return { t: 'var', slot: this.resolveVar(t.name, scope), name: t.name };
      }
      case 'ref': {
        const loc = locString(t.loc);
        const ops = t.path.map((p) => this.term(p, scope, mod));
        let head: IT;
        if (t.head.type === 'var') {
          if (t.head.name === '_') return this.fail('invalid ref head _', t.loc);
          // Resolve a global head here so that only the full ref is recorded as a dependency.
          const g = isDeclared(t.head.name, scope) ? undefined : this.global(t.head.name, mod, loc);
          head = g ?? this.term(t.head, scope, mod);
        } else head = this.term(t.head, scope, mod);
        if (
          head.t === 'ref' &&
          (head.head.h === 'data' || head.head.h === 'input') &&
          t.head.type === 'var'
        ) {
          const all = [...head.ops, ...ops];
          if (head.head.h === 'data') this.curRefDeps?.push(all);
          return { t: 'ref', head: head.head, ops: all, loc };
        }
        return { t: 'ref', head: { h: 'term', term: head }, ops, loc };
      }
      case 'array':
        return foldArray(t.items.map((x) => this.term(x, scope, mod)));
      case 'set': {
        const items = t.items.map((x) => this.term(x, scope, mod));
        if (items.every((x) => x.t === 'const'))
          return { t: 'const', v: RSet.of(items.map((x) => (x as { v: Value }).v)) };
        return { t: 'set', items };
      }
      case 'object':
        return foldObject(t.entries.map(([k, v]) => [this.term(k, scope, mod), this.term(v, scope, mod)]));
      case 'arraycompr':
      case 'setcompr': {
        const inner = new Scope(scope, scope.frame);
        for (const n of termNames(t.head)) inner.names.add(n);
        const { body, safe } = this.body(t.body, inner, mod);
        const head = this.term(t.head, inner, mod);
        this.checkHeadSafe([head], inner, safe, t.loc);
        return { t: 'compr', kind: t.type === 'arraycompr' ? 'array' : 'set', head, body };
      }
      case 'objectcompr': {
        const inner = new Scope(scope, scope.frame);
        for (const n of termNames(t.key)) inner.names.add(n);
        for (const n of termNames(t.value)) inner.names.add(n);
        const { body, safe } = this.body(t.body, inner, mod);
        const key = this.term(t.key, inner, mod);
        const value = this.term(t.value, inner, mod);
        this.checkHeadSafe([key, value], inner, safe, t.loc);
        return { t: 'ocompr', key, value, body };
      }
      case 'call':
        return this.call(t, scope, mod, false).call;
    }
  }

  private checkHeadSafe(terms: IT[], scope: Scope, safe: Set<number>, loc: Loc): void {
    for (const t of terms) refOuts(t, scope, safe);
    for (const t of terms) {
      for (const s of ownedSlots(t, scope)) {
        if (!safe.has(s)) this.err(`rego_unsafe_var_error: var ${scope.frame.names[s]} is unsafe`, loc);
      }
    }
  }

  private fail(message: string, loc: Loc): IT {
    this.err(message, loc);
    return { t: 'const', v: null };
  }

  private global(name: string, mod: ModCtx, loc: string): IT | undefined {
    if (name === 'data') return { t: 'ref', head: { h: 'data' }, ops: [], loc };
    if (name === 'input') return { t: 'ref', head: { h: 'input' }, ops: [], loc };
    const imp = mod.imports.get(name);
    if (imp) {
      const ops: IT[] = imp.path.map((p) => ({ t: 'const', v: p }));
      return { t: 'ref', head: { h: imp.root }, ops, loc };
    }
    if (mod.ruleNames.has(name)) {
      const ops: IT[] = [...mod.pkg, name].map((p) => ({ t: 'const', v: p }));
      return { t: 'ref', head: { h: 'data' }, ops, loc };
    }
    return undefined;
  }

  private call(
    t: Term & { type: 'call' },
    scope: Scope,
    mod: ModCtx,
    allowOut: boolean,
  ): { call: IT & { t: 'call' }; out?: IT } {
    const loc = locString(t.loc);
    const path = refNames(t.fn);
    const args = t.args.map((a) => this.term(a, scope, mod));
    const bad = {
      call: { t: 'call' as const, fn: { f: 'builtin' as const, name: '', def: BUILTINS.equal! }, args, loc },
    };
    if (!path) {
      this.err('rego_type_error: invalid function reference', t.loc);
      return bad;
    }
    const name = path.join('.');
    let fn: FnTarget;
    let arity: number;
    if (isDeclared(path[0]!, scope)) {
      this.err(`rego_type_error: undefined function ${name}`, t.loc);
      return bad;
    }
    const user = this.userFn(path, mod, scope);
    if (user) {
      fn = user;
      arity = user.node.arity!;
      this.curDeps?.add(user.node);
    } else {
      const b = this.builtins[name];
      if (!b) {
        this.err(`rego_type_error: undefined function ${name}`, t.loc);
        return bad;
      }
      fn = { f: 'builtin', name, def: b };
      arity = b.arity;
    }
    if (arity >= 0 && args.length !== arity) {
      if (allowOut && args.length === arity + 1) {
        const out = args.pop()!;
        return { call: withOrder({ t: 'call', fn, args, loc }), out };
      }
      this.err(
        `rego_type_error: ${name}: arity mismatch\n\thave: ${args.length} operands\n\twant: ${arity} operands`,
        t.loc,
      );
    }
    return { call: withOrder({ t: 'call', fn, args, loc }) };
  }
}

function withOrder(c: IT & { t: 'call' }): IT & { t: 'call' } {
  const vars = c.args.map((a, i) => (a.t === 'var' ? i : -1)).filter((i) => i >= 0);
  if (vars.length === 0 || vars.length === c.args.length) return c;
  const rest = c.args.map((_a, i) => i).filter((i) => c.args[i]!.t !== 'var');
  return { ...c, order: [...rest, ...vars] };
}

// ---- helpers ---------------------------------------------------------------------------------

function isDeclared(name: string, scope: Scope | undefined): boolean {
  for (let s = scope; s; s = s.parent) if (s.declared.has(name)) return true;
  return false;
}

function appearsInChain(scope: Scope | undefined, name: string): boolean {
  for (let s = scope; s; s = s.parent)
    if (s.names.has(name) || s.declared.has(name) || s.vars.has(name)) return true;
  return false;
}

function isAssignable(t: Term): boolean {
  if (t.type === 'var') return true;
  if (t.type === 'array') return t.items.every(isAssignable);
  if (t.type === 'object') return t.entries.every(([, v]) => isAssignable(v));
  return t.type === 'scalar';
}

function importPath(t: Term): string[] | undefined {
  return refNames(t);
}

/** `a.b.c` / `a["b"]` as names, or undefined when the term is not such a ref. */
function refNames(t: Term): string[] | undefined {
  if (t.type === 'var') return [t.name];
  if (t.type !== 'ref' || t.head.type !== 'var') return undefined;
  const out = [t.head.name];
  for (const p of t.path) {
    if (p.type !== 'scalar' || typeof p.value !== 'string') return undefined;
    out.push(p.value);
  }
  return out;
}

/** Variable names written in a term, not descending into comprehensions. */
function termNames(t: Term, out: string[] = []): string[] {
  switch (t.type) {
    case 'var':
      if (t.name !== '_') out.push(t.name);
      break;
    case 'ref':
      termNames(t.head, out);
      for (const p of t.path) termNames(p, out);
      break;
    case 'array':
    case 'set':
      for (const x of t.items) termNames(x, out);
      break;
    case 'object':
      for (const [k, v] of t.entries) {
        termNames(k, out);
        termNames(v, out);
      }
      break;
    case 'call':
      for (const a of t.args) termNames(a, out);
      break;
    default:
      break;
  }
  return out;
}

function foldArray(items: IT[]): IT {
  if (items.every((x) => x.t === 'const')) return { t: 'const', v: items.map((x) => (x as { v: Value }).v) };
  return { t: 'array', items };
}

function foldObject(entries: [IT, IT][]): IT {
  if (entries.every(([k, v]) => k.t === 'const' && v.t === 'const')) {
    const o = new RObject();
    for (const [k, v] of entries) o.set((k as { v: Value }).v, (v as { v: Value }).v);
    return { t: 'const', v: o };
  }
  return { t: 'object', entries };
}

function isGroundIT(t: IT): boolean {
  switch (t.t) {
    case 'const':
      return true;
    case 'array':
    case 'set':
      return t.items.every(isGroundIT);
    case 'object':
      return t.entries.every(([k, v]) => isGroundIT(k) && isGroundIT(v));
    default:
      return false;
  }
}

// Slot analysis for safety. Only slots owned by the scope being ordered matter: slots of
// enclosing scopes were required to be bound before the enclosing expression ran.

function ownedSlots(t: IT, scope: Scope, acc = new Set<number>(), skipWild = false): Set<number> {
  const owner = scope.frame.owner;
  const wild = scope.frame.wildcard;
  const visitExpr = (e: IExpr): void => {
    switch (e.e) {
      case 'term':
        visit(e.term);
        break;
      case 'callout':
        visit(e.call);
        visit(e.out);
        break;
      case 'unify':
        visit(e.a);
        visit(e.b);
        break;
      case 'somein':
        if (e.key) visit(e.key);
        visit(e.value);
        visit(e.domain);
        break;
      case 'every':
        if (e.key) visit(e.key);
        visit(e.value);
        visit(e.domain);
        for (const x of e.body) visitExpr(x);
        break;
      case 'body':
        for (const x of e.body) visitExpr(x);
        break;
      case 'true':
        break;
    }
    for (const w of e.withs) visit(w.value);
  };
  const visit = (x: IT): void => {
    switch (x.t) {
      case 'var':
        if (owner[x.slot] === scope && !(skipWild && wild[x.slot])) acc.add(x.slot);
        break;
      case 'ref':
        if (x.head.h === 'term') visit(x.head.term);
        for (const o of x.ops) visit(o);
        break;
      case 'array':
      case 'set':
        for (const i of x.items) visit(i);
        break;
      case 'object':
        for (const [k, v] of x.entries) {
          visit(k);
          visit(v);
        }
        break;
      case 'compr':
        visit(x.head);
        for (const e of x.body) visitExpr(e);
        break;
      case 'ocompr':
        visit(x.key);
        visit(x.value);
        for (const e of x.body) visitExpr(e);
        break;
      case 'call':
        for (const a of x.args) visit(a);
        break;
      case 'const':
        break;
    }
  };
  visit(t);
  return acc;
}

function exprNeeds(e: IExpr, scope: Scope): Set<number> {
  const acc = new Set<number>();
  const skipWild = e.negated;
  const add = (t: IT | undefined) => {
    if (t) ownedSlots(t, scope, acc, skipWild);
  };
  switch (e.e) {
    case 'term':
      add(e.term);
      break;
    case 'callout':
      add(e.call);
      add(e.out);
      break;
    case 'unify':
      add(e.a);
      add(e.b);
      break;
    case 'somein':
      add(e.key);
      add(e.value);
      add(e.domain);
      break;
    case 'every':
      add(e.domain);
      for (const x of e.body) for (const s of exprNeeds(x, scope)) acc.add(s);
      break;
    case 'body':
      for (const x of e.body) for (const s of exprNeeds(x, scope)) if (!scope.frame.wildcard[s]) acc.add(s);
      break;
    case 'true':
      break;
  }
  for (const w of e.withs) add(w.value);
  return acc;
}

function patternSlots(t: IT, scope: Scope, acc: Set<number>): void {
  if (t.t === 'var') {
    if (scope.frame.owner[t.slot] === scope) acc.add(t.slot);
  } else if (t.t === 'array') for (const i of t.items) patternSlots(i, scope, acc);
  else if (t.t === 'object') for (const [, v] of t.entries) patternSlots(v, scope, acc);
}

/** Vars bound by iterating refs: `data.x[i]` binds i. */
function refOuts(t: IT, scope: Scope, acc: Set<number>): void {
  switch (t.t) {
    case 'ref':
      if (t.head.h === 'term') refOuts(t.head.term, scope, acc);
      for (const o of t.ops) {
        patternSlots(o, scope, acc);
        refOuts(o, scope, acc);
      }
      break;
    case 'array':
    case 'set':
      for (const i of t.items) refOuts(i, scope, acc);
      break;
    case 'object':
      for (const [k, v] of t.entries) {
        refOuts(k, scope, acc);
        refOuts(v, scope, acc);
      }
      break;
    case 'call':
      for (const a of t.args) refOuts(a, scope, acc);
      break;
    default:
      break;
  }
}

function allSafe(t: IT, scope: Scope, safe: Set<number>): boolean {
  for (const s of ownedSlots(t, scope)) if (!safe.has(s)) return false;
  return true;
}

function unifyOuts(a: IT, b: IT, scope: Scope, safe: Set<number>): void {
  const owned = (x: IT) => x.t === 'var' && scope.frame.owner[x.slot] === scope && !safe.has(x.slot);
  if (owned(a)) {
    if (allSafe(b, scope, safe)) safe.add((a as { slot: number }).slot);
    return;
  }
  if (owned(b)) {
    if (allSafe(a, scope, safe)) safe.add((b as { slot: number }).slot);
    return;
  }
  if (a.t === 'array' && b.t === 'array' && a.items.length === b.items.length) {
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < a.items.length; i++) unifyOuts(a.items[i]!, b.items[i]!, scope, safe);
    }
    return;
  }
  if (a.t === 'object' && b.t === 'object' && a.entries.length === b.entries.length) {
    for (let round = 0; round < 2; round++) {
      for (const [ka, va] of a.entries) {
        if (ka.t !== 'const') continue;
        const match = b.entries.find(([kb]) => kb.t === 'const' && equalConst(ka.v, kb.v));
        if (match) unifyOuts(va, match[1], scope, safe);
      }
    }
    return;
  }
  if (a.t === 'array' && b.t === 'const' && Array.isArray(b.v)) {
    patternSlots(a, scope, safe);
    return;
  }
  if ((a.t === 'array' || a.t === 'object') && allSafe(b, scope, safe)) {
    patternSlots(a, scope, safe);
    return;
  }
  if ((b.t === 'array' || b.t === 'object') && allSafe(a, scope, safe)) patternSlots(b, scope, safe);
}

function exprOuts(e: IExpr, scope: Scope, safe: Set<number>): Set<number> {
  const acc = new Set<number>();
  if (e.negated) return acc;
  switch (e.e) {
    case 'term':
      refOuts(e.term, scope, acc);
      break;
    case 'callout':
      refOuts(e.call, scope, acc);
      patternSlots(e.out, scope, acc);
      refOuts(e.out, scope, acc);
      break;
    case 'unify': {
      refOuts(e.a, scope, acc);
      refOuts(e.b, scope, acc);
      const s = new Set([...safe, ...acc]);
      unifyOuts(e.a, e.b, scope, s);
      for (const x of s) if (!safe.has(x)) acc.add(x);
      break;
    }
    case 'somein':
      if (e.key) patternSlots(e.key, scope, acc);
      patternSlots(e.value, scope, acc);
      refOuts(e.domain, scope, acc);
      break;
    default:
      break;
  }
  return acc;
}
