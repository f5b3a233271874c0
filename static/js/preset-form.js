// A settings form generated from a pydantic options model's JSON schema.
// Bounds come from the schema; the server checks them again on start.

function bounds(prop) {
  if (prop.minimum === undefined && prop.exclusiveMinimum !== undefined) {
    return `above ${prop.exclusiveMinimum}, at most ${prop.maximum ?? "∞"}`;
  }
  return `${prop.minimum ?? "-∞"} to ${prop.maximum ?? "∞"}`;
}

function hint(prop) {
  if (prop.type === "array" && prop.items.enum) return "tick at least one";
  if (prop.type === "array") return `comma-separated, each ${bounds(prop.items)}`;
  if (prop.type === "integer" || prop.type === "number") return bounds(prop);
  return "";
}

function numberInput(prop) {
  const input = document.createElement("input");
  input.type = "number";
  input.step = prop.type === "integer" ? "1" : "any";
  if (prop.minimum !== undefined) input.min = prop.minimum;
  else if (prop.exclusiveMinimum !== undefined) input.min = prop.exclusiveMinimum;
  if (prop.maximum !== undefined) input.max = prop.maximum;
  input.value = prop.default;
  return input;
}

function selectInput(prop) {
  const select = document.createElement("select");
  prop.enum.forEach((value) => select.add(new Option(value, value, false, value === prop.default)));
  return select;
}

function checkboxGroup(id, prop) {
  const group = document.createElement("div");
  group.className = "choices";
  group.id = id;
  prop.items.enum.forEach((value) => {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = value;
    box.checked = prop.default.includes(value);
    label.append(box, ` ${value}`);
    group.append(label);
  });
  return group;
}

function inputFor(id, prop) {
  if (prop.type === "array" && prop.items.enum) return checkboxGroup(id, prop);
  let input;
  if (prop.type === "boolean") {
    input = document.createElement("input");
    input.type = "checkbox";
    input.checked = Boolean(prop.default);
  } else if (prop.enum) input = selectInput(prop);
  else if (prop.type === "array") {
    input = document.createElement("input");
    input.type = "text";
    input.value = prop.default.join(",");
    input.pattern = "\\s*\\d+(\\s*,\\s*\\d+)*\\s*";
  } else input = numberInput(prop);
  input.id = id;
  return input;
}

export function fieldInput(preset, name, prop) {
  const id = `${preset}-${name}`;
  const field = document.createElement("div");
  field.className = prop.type === "array" && prop.items.enum ? "field wide" : "field";
  field.dataset.name = name;
  const label = document.createElement("label");
  label.htmlFor = id;
  label.textContent = prop.title || name;
  const input = inputFor(id, prop);
  input.title = [prop.description, hint(prop)].filter(Boolean).join("; ");
  const small = document.createElement("small");
  small.textContent = hint(prop);
  field.append(label, input, small);
  return field;
}

function inRange(value, prop) {
  if (prop.minimum !== undefined && value < prop.minimum) return false;
  if (prop.exclusiveMinimum !== undefined && value <= prop.exclusiveMinimum) return false;
  return !(prop.maximum !== undefined && value > prop.maximum);
}

function readField(field, prop) {
  if (prop.type === "array" && prop.items.enum) {
    return [...field.querySelectorAll("input:checked")].map((box) => box.value);
  }
  const input = field.querySelector("input, select");
  if (prop.type === "boolean") return input.checked;
  if (prop.enum) return input.value;
  if (prop.type === "array") return input.value.split(",").map((v) => Number(v.trim()));
  return Number(input.value);
}

function check(name, value, prop) {
  const title = prop.title || name;
  if (prop.type === "array") {
    if (value.length < (prop.minItems ?? 0) || value.length > (prop.maxItems ?? Infinity)) {
      return `${title}: give ${prop.minItems} to ${prop.maxItems} values`;
    }
    const bad = value.find((v) => !(Number.isInteger(v) || prop.items.enum) || !inRange(v, prop.items));
    return bad === undefined ? null : `${title}: each value must be ${bounds(prop.items)}`;
  }
  if (prop.type === "integer" && !Number.isInteger(value)) return `${title}: a whole number, ${bounds(prop)}`;
  if ((prop.type === "integer" || prop.type === "number") && !inRange(value, prop)) {
    return `${title}: must be ${bounds(prop)}`;
  }
  return null;
}

// {values} on success, {error: "Field: why"} on the first bad field.
export function readForm(form, schema) {
  const values = {};
  for (const [name, prop] of Object.entries(schema.properties)) {
    const field = form.querySelector(`[data-name="${name}"]`);
    const value = readField(field, prop);
    const error = check(name, value, prop);
    if (error) return { error };
    values[name] = value;
  }
  return { values };
}
