/**
 * The import graph of a TypeScript source tree, read from the sources (type imports, re-exports and dynamic
 * imports included; comments skipped), and the strongly connected components of a graph (Tarjan). No
 * dependency: the architecture test must not need a new one.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/** A file's imports: relative ones as repo-relative `.ts` paths, bare ones (packages, node:*) as written. */
export interface FileImports {
  readonly local: readonly string[];
  readonly bare: readonly string[];
}

const IMPORT =
  /(?:^|[;\s])(?:import|export)\s+(?:type\s+)?(?:[\w*${}\s,]*?\s+from\s+)?["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g;

/** Removes block and line comments (a `//` after a colon, as in a URL, is kept). */
export function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
}

/** The specifiers a source text imports, in order. */
export function specifiers(source: string): string[] {
  const out: string[] = [];
  for (const m of stripComments(source).matchAll(IMPORT)) out.push((m[1] ?? m[2])!);
  return out;
}

/** Every `.ts` file under `dir` (repo-relative to `root`), mapped to its imports. */
export function importGraph(root: string, dir: string): Map<string, FileImports> {
  const graph = new Map<string, FileImports>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(".ts")) {
        const local: string[] = [];
        const bare: string[] = [];
        for (const spec of specifiers(readFileSync(path, "utf8"))) {
          if (spec.startsWith("."))
            local.push(relative(root, resolve(dirname(path), spec.replace(/\.js$/, ".ts"))));
          else bare.push(spec);
        }
        graph.set(relative(root, path), { local, bare });
      }
    }
  };
  walk(join(root, dir));
  return graph;
}

/** The strongly connected components with more than one node, or one node importing itself: the cycles. */
export function cycles(edges: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!edges.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (edges.get(v) ?? []).includes(v)) found.push(component.sort());
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** The files `start` reaches through local imports (itself included). */
export function closure(graph: ReadonlyMap<string, FileImports>, start: string): Set<string> {
  const seen = new Set<string>();
  const todo = [start];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (seen.has(f) || !graph.has(f)) continue;
    seen.add(f);
    todo.push(...graph.get(f)!.local);
  }
  return seen;
}
