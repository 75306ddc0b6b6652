// The review page: list, one item's loop, mask and flow, painting, arrows, re-render, undo and verdicts.
// Every text from the server is set with textContent (never parsed as HTML).
"use strict";
const token = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
const view = { show: "all", page: 1, item: null };
const edit = { bits: null, width: 0, height: 0, arrows: [], artistic: null, drawing: null };

function withToken(path) { return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token); }

function say(text, isError) { $("message").textContent = text || ""; $("message").className = isError ? "error" : ""; }

async function api(path, body) {
  document.body.dataset.busy = "1";
  try {
    const init = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" },
                                             body: JSON.stringify(body) };
    const answer = await fetch(withToken(path), init);
    const data = await answer.json().catch(() => ({ error: "the server answered " + answer.status }));
    if (!answer.ok) throw new Error(data.error || "the server answered " + answer.status);
    return data;
  } finally { document.body.dataset.busy = "0"; }
}

async function guarded(action) {
  try { say(""); await action(); } catch (problem) { say(problem.message, true); }
}

// --- the list ---------------------------------------------------------------------------------------------
async function showList() {
  const data = await api(`/api/items?show=${view.show}&page=${view.page}`);
  view.page = data.page;
  $("folder").textContent = `— ${data.folder} (${data.layout}, ${data.total} shown)`;
  $("page").textContent = `page ${data.page} of ${data.pages}`;
  for (const button of $("filters").children) button.classList.toggle("on", button.dataset.show === view.show);
  const grid = $("grid");
  grid.replaceChildren(...data.items.map(card));
  $("item-view").hidden = true; $("list-view").hidden = false;
}

function card(row) {
  const box = document.createElement("div");
  box.className = "card" + (row.status === "failed" ? " failed" : "");
  box.dataset.id = row.id;
  if (row.thumbnail) {
    const img = document.createElement("img"); img.loading = "lazy"; img.alt = row.id;
    img.src = withToken(row.thumbnail); box.append(img);
  } else { const empty = document.createElement("div"); empty.className = "missing"; box.append(empty); }
  const line = document.createElement("p");
  for (const [on, text] of [[row.status === "failed", "failed"], [row.verdict, row.verdict],
                            [!row.seen, "not seen"], [row.version > 0, "v" + row.version]]) {
    if (on) { const badge = document.createElement("span"); badge.className = "badge " + text;
              badge.textContent = text; line.append(badge); }
  }
  line.append(document.createTextNode(row.id));
  const prompt = document.createElement("p"); prompt.textContent = row.error || row.prompt;
  box.append(line, prompt);
  box.addEventListener("click", () => guarded(() => openItem(row.id)));
  return box;
}

// --- one item ---------------------------------------------------------------------------------------------
async function openItem(id) { showItem(await api(`/api/items/${encodeURIComponent(id)}`)); }

function showItem(item) {
  view.item = item;
  $("list-view").hidden = true; $("item-view").hidden = false;
  $("item-id").textContent = item.id;
  $("item-prompt").textContent = item.prompt;
  $("item-state").textContent = [item.status === "failed" ? "failed: " + item.error : "", item.verdict || ""]
    .filter(Boolean).join(" · ");
  $("version").textContent = `version ${item.head.version} of ${item.versions.length - 1}` +
    (item.settings.steps && item.settings.steps.length ? ` (re-rendered: ${item.settings.steps.join(" → ")})` : "");
  const files = item.files;
  const loop = $("loop");
  if (files["cinemagraph.mp4"]) loop.src = withToken(files["cinemagraph.mp4"]); else loop.removeAttribute("src");
  if (files["flow.png"]) $("flow").src = withToken(files["flow.png"]); else $("flow").removeAttribute("src");
  $("source").replaceChildren(...item.sources.map((source) => {
    const option = document.createElement("option"); option.value = source.name; option.disabled = !source.available;
    option.textContent = source.name + (source.available ? "" : " (needs flow.flow_model)"); return option;
  }));
  $("source").value = item.settings.source || "direction";
  $("speed").value = item.settings.speed || 1;
  $("direction").value = item.settings.direction || "";
  edit.arrows = (item.settings.hints || []).map((h) => ({ ...h }));
  for (const id of ["rerender", "undo", "canvas"]) $(id).toggleAttribute("disabled", !item.editable);
  if (item.editable) loadPictures(files);
}

function loadPicture(path) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("could not load " + path));
    img.src = withToken(path);
  });
}

async function loadPictures(files) {
  const artistic = await loadPicture(files["artistic.png"]);
  edit.artistic = artistic; edit.width = artistic.naturalWidth; edit.height = artistic.naturalHeight;
  edit.bits = new Uint8Array(edit.width * edit.height);
  if (files["mask.png"]) {
    const pixels = pixelsOf(await loadPicture(files["mask.png"]));
    for (let i = 0; i < edit.bits.length; i++) edit.bits[i] = pixels[4 * i] > 127 ? 1 : 0;
  }
  const canvas = $("canvas");
  canvas.width = edit.width; canvas.height = edit.height;
  const scale = Math.min(512 / edit.width, 512 / edit.height, 4);
  canvas.style.width = `${Math.round(edit.width * scale)}px`;
  canvas.style.height = `${Math.round(edit.height * scale)}px`;
  draw();
  document.body.dataset.ready = String(view.item.head.revision);
}

function pixelsOf(img) {
  const scratch = document.createElement("canvas");
  scratch.width = img.naturalWidth; scratch.height = img.naturalHeight;
  const context = scratch.getContext("2d"); context.drawImage(img, 0, 0);
  return context.getImageData(0, 0, scratch.width, scratch.height).data;
}

function draw(preview) {
  const context = $("canvas").getContext("2d");
  context.drawImage(edit.artistic, 0, 0);
  const shade = context.getImageData(0, 0, edit.width, edit.height);
  for (let i = 0; i < edit.bits.length; i++) {
    if (edit.bits[i]) { const p = 4 * i; shade.data[p] = (shade.data[p] + 255) >> 1;
                        shade.data[p + 1] >>= 1; shade.data[p + 2] >>= 1; }
  }
  context.putImageData(shade, 0, 0);
  const length = Math.max(edit.width, edit.height) / 8;
  for (const arrow of [...edit.arrows, ...(preview ? [preview] : [])]) {
    const norm = Math.hypot(arrow.dx, arrow.dy) || 1;
    drawArrow(context, arrow.x, arrow.y, arrow.x + arrow.dx / norm * length, arrow.y + arrow.dy / norm * length);
  }
}

function drawArrow(context, x0, y0, x1, y1) {
  const head = Math.max(edit.width, edit.height) / 40, angle = Math.atan2(y1 - y0, x1 - x0);
  context.strokeStyle = "#ff0"; context.fillStyle = "#ff0"; context.lineWidth = Math.max(1, head / 3);
  context.beginPath(); context.moveTo(x0, y0); context.lineTo(x1, y1); context.stroke();
  context.beginPath(); context.moveTo(x1, y1);
  context.lineTo(x1 - head * Math.cos(angle - 0.5), y1 - head * Math.sin(angle - 0.5));
  context.lineTo(x1 - head * Math.cos(angle + 0.5), y1 - head * Math.sin(angle + 0.5)); context.fill();
}

// --- painting and arrows (pointer events on the canvas, in image pixels) -----------------------------------
function imagePoint(event) {
  const box = $("canvas").getBoundingClientRect();
  return { x: (event.clientX - box.left) * edit.width / box.width,
           y: (event.clientY - box.top) * edit.height / box.height };
}

function stamp(point, value) {
  const radius = Number($("brush").value) / 2;
  for (let y = Math.floor(point.y - radius); y <= Math.ceil(point.y + radius); y++) {
    for (let x = Math.floor(point.x - radius); x <= Math.ceil(point.x + radius); x++) {
      if (x >= 0 && y >= 0 && x < edit.width && y < edit.height &&
          (x + 0.5 - point.x) ** 2 + (y + 0.5 - point.y) ** 2 <= radius * radius + 0.5) {
        edit.bits[y * edit.width + x] = value;
      }
    }
  }
}

function strokeTo(point) {
  const last = edit.drawing.last, value = edit.drawing.tool === "paint" ? 1 : 0;
  const steps = Math.max(1, Math.ceil(Math.hypot(point.x - last.x, point.y - last.y) / 0.5));
  for (let i = 1; i <= steps; i++) {
    stamp({ x: last.x + (point.x - last.x) * i / steps, y: last.y + (point.y - last.y) * i / steps }, value);
  }
  edit.drawing.last = point;
}

function tool() { return document.querySelector("input[name=tool]:checked").value; }

$("canvas").addEventListener("pointerdown", (event) => {
  if (!view.item || !view.item.editable) return;
  $("canvas").setPointerCapture(event.pointerId);
  const point = imagePoint(event);
  edit.drawing = { tool: tool(), start: point, last: point };
  if (edit.drawing.tool !== "arrow") { stamp(point, edit.drawing.tool === "paint" ? 1 : 0); draw(); }
});
$("canvas").addEventListener("pointermove", (event) => {
  if (!edit.drawing) return;
  const point = imagePoint(event), start = edit.drawing.start;
  if (edit.drawing.tool === "arrow") draw({ x: start.x, y: start.y, dx: point.x - start.x, dy: point.y - start.y });
  else { strokeTo(point); draw(); }
});
$("canvas").addEventListener("pointerup", (event) => {
  if (!edit.drawing) return;
  const point = imagePoint(event), start = edit.drawing.start;
  if (edit.drawing.tool === "arrow" && Math.hypot(point.x - start.x, point.y - start.y) >= 2) {
    edit.arrows.push({ x: start.x, y: start.y, dx: point.x - start.x, dy: point.y - start.y });
  } else if (edit.drawing.tool !== "arrow") strokeTo(point);
  edit.drawing = null; draw();
});

function maskDataURL() {
  const scratch = document.createElement("canvas");
  scratch.width = edit.width; scratch.height = edit.height;
  const context = scratch.getContext("2d"), data = context.createImageData(edit.width, edit.height);
  for (let i = 0; i < edit.bits.length; i++) {
    const v = edit.bits[i] ? 255 : 0; data.data.set([v, v, v, 255], 4 * i);
  }
  context.putImageData(data, 0, 0);
  return scratch.toDataURL("image/png");
}

// --- actions ----------------------------------------------------------------------------------------------
$("rerender").addEventListener("click", () => guarded(async () => {
  const started = performance.now();
  say("re-rendering …");
  const item = await api(`/api/items/${encodeURIComponent(view.item.id)}/render`, {
    base: view.item.head.revision, mask: maskDataURL(), hints: edit.arrows, speed: Number($("speed").value),
    source: $("source").value, direction: $("direction").value });
  showItem(item);
  say(`version ${item.head.version} rendered in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}));
$("undo").addEventListener("click", () => guarded(async () => {
  showItem(await api(`/api/items/${encodeURIComponent(view.item.id)}/undo`, { base: view.item.head.revision }));
}));
for (const [id, verdict] of [["approve", "approved"], ["reject", "rejected"]]) {
  $(id).addEventListener("click", () => guarded(async () => {
    showItem(await api(`/api/items/${encodeURIComponent(view.item.id)}/verdict`, { verdict }));
    say(`${view.item.id}: ${verdict}`);
  }));
}
$("clear-arrows").addEventListener("click", () => { edit.arrows = []; draw(); });
$("brush").addEventListener("input", () => { $("brush-size").textContent = $("brush").value; });
$("back").addEventListener("click", () => guarded(showList));
$("prev").addEventListener("click", () => guarded(() => { view.page -= 1; return showList(); }));
$("next").addEventListener("click", () => guarded(() => { view.page += 1; return showList(); }));
for (const button of $("filters").children) {
  button.addEventListener("click", () => guarded(() => {
    view.show = button.dataset.show; view.page = 1; return showList();
  }));
}
$("open-form").addEventListener("submit", (event) => {
  event.preventDefault();
  guarded(async () => showItem(await api("/api/open", { path: $("open-path").value, prompt: $("open-prompt").value })));
});
guarded(showList);
