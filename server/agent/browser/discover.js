// Reads the questions of the form as a person sees them (open shadow roots included) and tags
// each control with `data-agent-key`, so the filler finds it again by a plain CSS selector.
(() => {
  const seen = new Set();
  const fields = [];
  const clean = (t) => (t || "").replace(/\s+/g, " ").trim();
  const marked = (t) => /[*✱]/.test(t || "");
  const strip = (t) => clean((t || "").replace(/[*✱]/g, " "));
  const rootOf = (el) => el.getRootNode();
  const parentOf = (el) => el.parentElement || (rootOf(el).host || null);
  const shown = (el) => {
    for (let node = parentOf(el); node; node = parentOf(node)) {
      if (node.hidden) return false;
      const style = getComputedStyle(node);
      if (style.display === "none" || style.visibility === "hidden") return false;
      if (node.getAttribute && node.getAttribute("aria-hidden") === "true") return false;
    }
    return true;
  };
  const visibleBox = (el) => { const r = el.getBoundingClientRect(); return r.width > 2 && r.height > 2; };
  const byId = (el, id) => (id ? rootOf(el).getElementById ? rootOf(el).getElementById(id) : document.getElementById(id) : null);
  const textOf = (node) => {
    if (!node) return "";
    const copy = node.cloneNode(true);
    for (const c of copy.querySelectorAll("input, select, textarea, option, button, script, style")) c.remove();
    return copy.textContent;
  };
  const labelOf = (el) => {
    const raw = [];
    const by = el.getAttribute("aria-labelledby");
    if (by) raw.push(by.split(/\s+/).map((id) => textOf(byId(el, id))).join(" "));
    if (el.id) {
      const root = rootOf(el);
      const label = root.querySelector ? root.querySelector(`label[for="${CSS.escape(el.id)}"]`) : null;
      if (label) raw.push(textOf(label));
    }
    const group = el.closest("[role=group][aria-labelledby], [role=radiogroup][aria-labelledby]");
    if (group) raw.push(textOf(byId(group, group.getAttribute("aria-labelledby"))));
    const card = el.closest("li.application-question");
    if (card) { const t = card.querySelector(".application-label .text, .application-label"); if (t) raw.push(textOf(t)); }
    const entry = el.closest(".ashby-application-form-field-entry");
    if (entry) { const t = entry.querySelector(".ashby-application-form-question-title"); if (t) raw.push(textOf(t)); }
    const fieldset = el.closest("fieldset");
    if (fieldset) { const legend = fieldset.querySelector("legend"); if (legend) raw.push(textOf(legend)); }
    const wrapping = el.closest("label");
    if (wrapping) raw.push(textOf(wrapping));
    // Prefer a label that says more than the widget's own "Attach".
    const good = raw.map((t) => clean(t)).filter((t) => strip(t) && !/^attach$/i.test(strip(t)));
    return good[0] || clean(el.getAttribute("aria-label") || el.placeholder || el.name || el.id || "");
  };
  const labelRequired = (el, label) => {
    if (marked(label)) return true;
    if (el.closest(".required-field, [aria-required=true]")) return true;
    const entry = el.closest(".ashby-application-form-field-entry");
    if (entry) { const t = entry.querySelector(".ashby-application-form-question-title");
      if (t && /required/i.test(t.className)) return true; }
    const card = el.closest("li.application-question");
    if (card && card.querySelector(".required")) return true;
    return false;
  };
  const keyOf = (el, fallback) => {
    let key = el.getAttribute("name") || el.id || fallback;
    key = key.slice(0, 90);
    let unique = key, n = 2;
    while (seen.has(unique)) unique = `${key}#${n++}`;
    seen.add(unique);
    return unique;
  };
  const optionLabel = (input) => {
    const holder = input.closest("[role=radio], [role=checkbox], label, li");
    let text = holder ? textOf(holder) : "";
    if (!clean(text) && input.id) { const l = rootOf(input).querySelector(`label[for="${CSS.escape(input.id)}"]`); text = textOf(l); }
    return clean(text) || input.value;
  };
  const all = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) walk(el.shadowRoot);
      all.push(el);
    }
  };
  walk(document);
  const groups = new Map();
  let counter = 0;
  for (const el of all) {
    const tag = el.tagName;
    // Yes/No button pairs over a hidden checkbox (Ashby).
    if (tag === "DIV" && !el.dataset.agentKey) {
      const buttons = [...el.querySelectorAll(":scope > button[aria-pressed]")];
      if (buttons.length >= 2 && shown(buttons[0]) && visibleBox(buttons[0])) {
        const box = el.querySelector("input[type=checkbox]");
        const label = labelOf(box || buttons[0]);
        const key = keyOf(box || el, `yesno-${counter++}`);
        el.dataset.agentKey = key;
        if (box) box.dataset.agentSkip = "1";
        fields.push({key, kind: "yesno", label: strip(label), required: labelRequired(el, label),
          options: buttons.map((b) => clean(b.textContent)), autocomplete: "", name: box ? box.name : "", id: box ? box.id : "", type: "", placeholder: "", accept: ""});
        continue;
      }
    }
    if (!["INPUT", "SELECT", "TEXTAREA"].includes(tag)) continue;
    if (el.dataset.agentSkip || el.dataset.agentKey) continue;
    const type = (el.getAttribute("type") || (tag === "INPUT" ? "text" : tag.toLowerCase())).toLowerCase();
    if (["hidden", "submit", "button", "image", "reset", "password", "search"].includes(type) && tag === "INPUT") continue;
    if (el.classList.contains("select__required")) continue;
    if (el.disabled || el.readOnly) continue;
    if (!shown(el)) continue;
    if (type === "radio" || (type === "checkbox" && el.name && rootOf(el).querySelectorAll(`input[type=checkbox][name="${CSS.escape(el.name)}"]`).length > 1)) {
      const groupKey = `${type}:${el.name}`;
      let group = groups.get(groupKey);
      if (!group) {
        const label = labelOf(el.closest("fieldset, [role=radiogroup], ul, .application-field") || el);
        const key = keyOf(el, `${type}-${counter++}`);
        group = {key, kind: type === "radio" ? "radio" : "checkboxes", label: strip(label),
          required: el.required || labelRequired(el, label), options: [], autocomplete: "", name: el.name, id: el.id, type, placeholder: "", accept: ""};
        groups.set(groupKey, group); fields.push(group);
      }
      el.dataset.agentKey = `${group.key}::${group.options.length}`;
      group.options.push(optionLabel(el));
      continue;
    }
    const isCombo = el.getAttribute("role") === "combobox";
    if (type !== "file" && type !== "checkbox" && !visibleBox(el) && !isCombo) continue;
    const label = labelOf(el);
    const key = keyOf(el, `field-${counter++}`);
    el.dataset.agentKey = key;
    const field = {key, kind: isCombo ? "combobox" : tag === "SELECT" ? "select" : tag === "TEXTAREA" ? "textarea" : type === "file" ? "file" : type === "checkbox" ? "checkbox" : "text",
      label: strip(label), required: el.required || el.getAttribute("aria-required") === "true" || labelRequired(el, label),
      options: tag === "SELECT" ? [...el.options].filter((o) => o.value !== "").map((o) => clean(o.textContent)) : [],
      autocomplete: el.getAttribute("autocomplete") || "", name: el.getAttribute("name") || "", id: el.id || "", type,
      placeholder: el.placeholder || "", accept: el.getAttribute("accept") || ""};
    if (type === "checkbox") field.options = [optionLabel(el)];
    fields.push(field);
  }
  return fields;
})()
