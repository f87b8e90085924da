// Checks nspsim's HTML reports and Mermaid diagrams in headless Chromium.
//
//   node check.mjs CONFIG.json
//
// CONFIG (written by sim-tests/tests/render.rs):
//   { "chromium": "/usr/bin/chromium",
//     "mermaid": "/abs/path/node_modules/mermaid/dist/mermaid.min.js",
//     "reports": [ { "path": "/abs/demo.html", "events": 126, "violation": false,
//                    "cutShort": false, "filter": { "process": 4, "expect": 30 },
//                    "maxLoadMs": 10000, "screenshot": "/abs/docs/demo-report.png",
//                    "screenshotAt": { "top": 34, "show": 53 } } ],
//     "diagrams": [ "/abs/demo.mmd" ] }
//
// Prints one line per check and a JSON summary line (`result: {...}`); exits 1 on any failure.
// Only file:// requests are allowed: anything else is aborted and is a failure.

import { chromium } from "playwright-core";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const failures = [];
const results = {};
const check = (ok, what) => {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures.push(what);
};

const profile = mkdtempSync(join(tmpdir(), "nspsim-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: config.chromium,
  headless: true,
  viewport: { width: 1400, height: 800 },
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});

// Watches a page: console errors, page errors, requests that are not file://.
function watch(page, name) {
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console error: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    const url = r.url();
    if (!url.startsWith("file://") && !url.startsWith("data:") && url !== "about:blank") {
      problems.push(`network request: ${url}`);
    }
  });
  return () => {
    check(problems.length === 0, `${name}: no console errors, no network requests${problems.length ? " (" + problems.join("; ") + ")" : ""}`);
  };
}
await context.route("**/*", (route) => {
  const url = route.request().url();
  if (url.startsWith("file://") || url.startsWith("data:")) return route.continue();
  return route.abort();
});

// Pixel variance of a PNG, computed in a blank page's canvas.
async function variance(png) {
  const page = await context.newPage();
  const v = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = "data:image/png;base64," + b64;
    await img.decode();
    const c = document.createElement("canvas");
    c.width = img.width; c.height = img.height;
    const g = c.getContext("2d");
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let sum = 0, sq = 0, n = 0;
    for (let i = 0; i < d.length; i += 4 * 7) {
      const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
      sum += y; sq += y * y; n++;
    }
    const mean = sum / n;
    return sq / n - mean * mean;
  }, png.toString("base64"));
  await page.close();
  return v;
}

for (const r of config.reports) {
  const name = r.path.split("/").pop();
  const page = await context.newPage();
  const done = watch(page, name);
  const t0 = Date.now();
  // Time to the first drawn screen (the events' lines for the detail panel come after the
  // code and may still be loading), then wait for the whole file.
  await page.goto(pathToFileURL(r.path).href, { waitUntil: "commit" });
  await page.waitForFunction(() => document.body && document.body.dataset.ready === "1", null, { timeout: 60000, polling: 20 });
  const loadMs = Date.now() - t0;
  await page.waitForLoadState("load");
  const fullMs = Date.now() - t0;
  const pageMs = await page.evaluate(() => window.nspsim.renderMs);
  results[name] = { loadMs, pageMs, fullMs };
  console.log(`     ${name}: ${r.events} events drawn in ${loadMs} ms (page's own clock: ${pageMs} ms; whole file loaded in ${fullMs} ms)`);
  check(loadMs < (r.maxLoadMs ?? 10000), `${name}: loads in under ${r.maxLoadMs ?? 10000} ms (${loadMs} ms)`);
  const counts = await page.evaluate(() => ({
    known: window.nspsim.eventCount,
    data: Number(document.body.dataset.events),
    visible: window.nspsim.visibleCount(),
    drawn: document.querySelectorAll("#rows .row").length,
  }));
  check(counts.known === r.events && counts.data === r.events && counts.visible === r.events,
    `${name}: the page knows ${r.events} events (${JSON.stringify(counts)})`);
  check(counts.drawn > 0 && counts.drawn <= Math.min(r.events, 120),
    `${name}: draws only the rows on screen (${counts.drawn})`);
  if (r.violation) {
    const v = await page.evaluate(() => {
      const i = window.nspsim.violationRows[0];
      const el = document.querySelector(`#rows .row[data-i="${i}"]`);
      if (!el) return { found: false };
      const b = el.getBoundingClientRect();
      const s = document.getElementById("scroll").getBoundingClientRect();
      return {
        found: true, inView: window.nspsim.inView(i),
        top: b.top, bottom: b.bottom, scrollTop: s.top, scrollBottom: s.bottom,
        color: getComputedStyle(el).backgroundColor,
        text: el.textContent,
        listed: document.querySelectorAll("#violations div").length,
      };
    });
    check(v.found && v.inView && v.top >= v.scrollTop && v.bottom <= v.scrollBottom,
      `${name}: the violation is drawn and scrolled into view (${JSON.stringify({ top: v.top, bottom: v.bottom })})`);
    const red = /rgba?\((\d+), (\d+), (\d+)/.exec(v.color || "");
    check(red && Number(red[1]) > 200 && Number(red[2]) < 240 && Number(red[1]) - Number(red[3]) > 10,
      `${name}: the violation row is red (${v.color})`);
    check(/rule [LP]\d+: /.test(v.text || ""), `${name}: the violation shows its rule's text`);
    check(v.listed >= 1, `${name}: the violation is listed in the header`);
  }
  if (r.cutShort) {
    const note = await page.evaluate(() => {
      const el = document.getElementById("cut-short");
      return el ? el.textContent : "";
    });
    check(note.includes("trace cut short"), `${name}: says the trace was cut short`);
  }
  if (r.filter) {
    const f = await page.evaluate((p) => {
      const n = window.nspsim.filter({ process: p });
      const rows = [...document.querySelectorAll("#rows .row")];
      return { n, drawn: rows.length };
    }, r.filter.process);
    check(f.n === r.filter.expect && f.drawn > 0,
      `${name}: filtering by process ${r.filter.process} leaves ${r.filter.expect} events (${f.n})`);
    if (r.filter.label) {
      const n = await page.evaluate((l) => window.nspsim.filter({ label: l }), r.filter.label);
      check(n === r.filter.labelExpect, `${name}: filtering by label ${r.filter.label} leaves ${r.filter.labelExpect} events (${n})`);
    }
    const back = await page.evaluate(() => window.nspsim.filter({}));
    check(back === r.events, `${name}: clearing the filters shows every event again`);
    if (r.violation) {
      await page.evaluate(() => window.nspsim.scrollToRow(window.nspsim.violationRows[0], true));
    }
  }
  // Clicking an event shows its line of the trace.
  const clicked = await page.evaluate(() => {
    const row = document.querySelector("#rows .row");
    row.querySelector(".gut").click();
    const line = document.getElementById("detail-line");
    return { seq: Number(row.dataset.seq), line: line ? line.textContent : "" };
  });
  let parsed = null;
  try { parsed = JSON.parse(clicked.line); } catch { /* checked below */ }
  check(parsed && parsed.seq === clicked.seq && clicked.line.startsWith(`{"seq":${clicked.seq},`),
    `${name}: clicking event ${clicked.seq} shows its JSON line`);
  // Scrolling stays quick: jump to the middle and draw.
  const scrollMs = await page.evaluate(async () => {
    const s = document.getElementById("scroll");
    const t = performance.now();
    s.scrollTop = s.scrollHeight / 2;
    await new Promise((res) => requestAnimationFrame(() => requestAnimationFrame(res)));
    return performance.now() - t;
  });
  results[name].scrollMs = Math.round(scrollMs);
  check(scrollMs < 1000, `${name}: a scroll redraws in ${Math.round(scrollMs)} ms`);
  if (r.screenshotAt) {
    // The README's picture: a part worth seeing, with one event's line in the side panel.
    await page.evaluate((a) => { window.nspsim.scrollToRow(a.top, false); window.nspsim.show(a.show); }, r.screenshotAt);
  } else if (r.violation) {
    await page.evaluate(() => window.nspsim.scrollToRow(window.nspsim.violationRows[0], true));
  } else {
    await page.evaluate(() => { document.getElementById("scroll").scrollTop = 0; });
  }
  await page.evaluate(() => new Promise((res) => requestAnimationFrame(() => requestAnimationFrame(res))));
  const png = await page.screenshot();
  const v = await variance(png);
  check(v > 100, `${name}: the screenshot is not blank (luma variance ${Math.round(v)})`);
  if (r.screenshot) {
    writeFileSync(r.screenshot, png);
    console.log(`     wrote ${r.screenshot}`);
  }
  done();
  await page.close();
}

// Mermaid's own parser (and renderer), loaded from node_modules over file://.
if (config.diagrams && config.diagrams.length) {
  const dir = mkdtempSync(join(tmpdir(), "nspsim-mermaid-"));
  const host = join(dir, "host.html");
  writeFileSync(host, `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><div id="out"></div><script src="${pathToFileURL(config.mermaid).href}"></script></body></html>`);
  const page = await context.newPage();
  const done = watch(page, "mermaid");
  await page.goto(pathToFileURL(host).href);
  await page.waitForFunction(() => typeof window.mermaid !== "undefined", null, { timeout: 30000 });
  await page.evaluate(() => window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict" }));
  for (const d of config.diagrams) {
    const text = readFileSync(d, "utf8");
    const out = await page.evaluate(async (t) => {
      try {
        const parsed = await window.mermaid.parse(t);
        const { svg } = await window.mermaid.render("d" + Math.floor(Math.random() * 1e9), t);
        return { ok: !!parsed, type: parsed && parsed.diagramType, svg: svg.length, hasText: svg };
      } catch (e) {
        return { ok: false, error: String(e && e.message || e) };
      }
    }, text);
    check(out.ok && out.type === "sequence" && out.svg > 1000,
      `mermaid parses and renders ${d.split("/").pop()}${out.error ? ": " + out.error : ` (${out.type}, ${out.svg} bytes of SVG)`}`);
    if (out.ok && config.diagramTexts && config.diagramTexts[d]) {
      for (const needle of config.diagramTexts[d]) {
        check(out.hasText.includes(needle), `${d.split("/").pop()}: the rendered diagram shows ${JSON.stringify(needle)}`);
      }
    }
  }
  done();
  await page.close();
  rmSync(dir, { recursive: true, force: true });
}

await context.close();
rmSync(profile, { recursive: true, force: true });
console.log(`result: ${JSON.stringify(results)}`);
if (failures.length) {
  console.log(`${failures.length} check(s) failed`);
  process.exit(1);
}
console.log("all browser checks passed");
