// Turning what the user picked or dropped into an image set to upload.
//
// A folder keeps its sub-folders (paths relative to the folder, as the service and the
// library read them); one .zip file is sent as an archive; a folder holding top-level
// images/ and masks/ folders is split into images and masks, as an archive is. Hidden
// files (.DS_Store and the like) are left out: the service would refuse them anyway.

/** [{file, path}] from an <input type=file>: a folder's relative paths, or plain names. */
export function fromInput(fileList) {
  const entries = [];
  let folder = null;
  for (const file of fileList) {
    const rel = file.webkitRelativePath || "";
    if (rel.includes("/")) {
      const [top, ...rest] = rel.split("/");
      folder = folder || top;
      entries.push({ file, path: rest.join("/") });
    } else {
      entries.push({ file, path: file.name });
    }
  }
  return { entries, folder };
}

function readAll(reader) {
  // readEntries answers in batches (100 in Chromium): call it until it answers nothing.
  return new Promise((resolve, reject) => {
    const all = [];
    const next = () => reader.readEntries((batch) => {
      if (!batch.length) resolve(all);
      else { all.push(...batch); next(); }
    }, reject);
    next();
  });
}

const fileOf = (entry) => new Promise((resolve, reject) => entry.file(resolve, reject));

async function walk(entry, prefix, out) {
  if (entry.isFile) {
    out.push({ file: await fileOf(entry), path: prefix + entry.name });
  } else if (entry.isDirectory) {
    for (const child of await readAll(entry.createReader())) await walk(child, `${prefix}${entry.name}/`, out);
  }
}

/** [{file, path}] from a drop: one dropped folder gives paths relative to it. */
export async function fromDrop(dataTransfer) {
  // The items must be taken now, during the drop event; reading them may take longer.
  const roots = [...dataTransfer.items].map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry()).filter(Boolean);
  if (!roots.length) return { entries: [...dataTransfer.files].map((file) => ({ file, path: file.name })), folder: null };
  const entries = [];
  if (roots.length === 1 && roots[0].isDirectory) {
    for (const child of await readAll(roots[0].createReader())) await walk(child, "", entries);
    return { entries, folder: roots[0].name };
  }
  for (const root of roots) await walk(root, "", entries);
  return { entries, folder: null };
}

const hidden = (path) => path.split("/").some((part) => part.startsWith("."));
const isZip = (entry) => /\.zip$/i.test(entry.path);

/**
 * What to upload: {images, masks, archive, hiddenSkipped, name, bytes}. `masks` given
 * separately (another input) are added to any masks/ folder found in the images' folder.
 */
export function imageSet(picked, extraMasks = []) {
  let entries = picked.entries.filter((e) => !hidden(e.path));
  const hiddenSkipped = picked.entries.length - entries.length + extraMasks.filter((e) => hidden(e.path)).length;
  let masks = extraMasks.filter((e) => !hidden(e.path));
  let archive = null;
  if (entries.length === 1 && isZip(entries[0])) {
    archive = entries[0].file;
    entries = [];
  } else {
    const top = (e) => e.path.split("/")[0];
    const split = entries.some((e) => top(e) === "images" && e.path.includes("/"))
      && entries.some((e) => top(e) === "masks" && e.path.includes("/"));
    if (split) {
      masks = masks.concat(entries.filter((e) => top(e) === "masks").map((e) => ({ ...e, path: e.path.slice(6) })));
      entries = entries.filter((e) => top(e) !== "masks").map((e) => (top(e) === "images" ? { ...e, path: e.path.slice(7) } : e));
    }
  }
  const name = picked.folder || (archive ? archive.name.replace(/\.zip$/i, "") : null);
  const sum = (list) => list.reduce((n, e) => n + e.file.size, 0);
  return {
    images: entries, masks, archive, hiddenSkipped, name,
    bytes: sum(entries) + sum(masks) + (archive ? archive.size : 0),
    count: entries.length + masks.length + (archive ? 1 : 0),
  };
}

/** The multipart body of POST /v1/datasets for an image set. */
export function formData(set, name) {
  const form = new FormData();
  if (name) form.append("name", name);
  for (const e of set.images) form.append("files", e.file, e.path);
  for (const e of set.masks) form.append("masks", e.file, e.path);
  if (set.archive) form.append("archive", set.archive, set.archive.name);
  return form;
}
