#!/usr/bin/python3
"""Validate logged Cloud Hypervisor API requests against the OpenAPI description.

Usage: validate_requests.py OPENAPI_YAML LOGFILE

LOGFILE holds one JSON object per line, as cloud-hypervisor-sim writes it with
CH_SIM_REQUEST_LOG=PATH:
    {"method": "PUT", "path": "/api/v1/vm.create", "body": {...} | null, "status": 204}
A line may also carry "body_error" (the body was not JSON) and "body_text".

For every request: the path (without the /api/v1 base) and method must be an operation
of the OpenAPI file; a request with a body must go to an operation with a requestBody and
vice versa (unless the requestBody is optional); the body must validate against the
requestBody's application/json schema, with #/components/schemas/... references resolved
and OpenAPI 3.0 `nullable: true` honoured.

Prints one line per problem and a summary "N requests checked, M invalid"; exits 1 if any
request is invalid, 2 on usage or input errors.

Needs PyYAML and jsonschema (Debian: python3-yaml, python3-jsonschema).
"""

import json
import sys

import jsonschema
import yaml

BASE_PATH = "/api/v1"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def to_json_schema(node):
    """Converts an OpenAPI 3.0 schema object into JSON Schema (draft 4 style).

    `nullable: true` becomes a type union with "null" (or an anyOf for $ref/enum nodes);
    `#/components/schemas/X` references become `#/definitions/X`; OpenAPI-only keywords
    (example, deprecated, format, readOnly, ...) pass through, since jsonschema ignores
    unknown keywords and does not enforce `format` by default.
    """
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            result[key] = value.replace("#/components/schemas/", "#/definitions/")
        elif key == "nullable":
            continue
        else:
            result[key] = to_json_schema(value)
    if node.get("nullable") is True:
        if "type" in result and "$ref" not in result:
            types = result["type"] if isinstance(result["type"], list) else [result["type"]]
            result["type"] = types + ["null"]
            if "enum" in result:
                result["enum"] = list(result["enum"]) + [None]
        else:
            result = {"anyOf": [result, {"type": "null"}]}
    # A draft-4 validator ignores siblings of $ref; wrap so that nothing else is lost.
    if "$ref" in result and len(result) > 1:
        ref = result.pop("$ref")
        result = {"allOf": [{"$ref": ref}, result]}
    return result


def load_operations(openapi_path):
    """Returns ({(path, method): requestBody-or-None}, definitions)."""
    with open(openapi_path, encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    definitions = {
        name: to_json_schema(schema)
        for name, schema in (document.get("components", {}).get("schemas", {}) or {}).items()
    }
    operations = {}
    for path, item in (document.get("paths", {}) or {}).items():
        for method, operation in (item or {}).items():
            if method.lower() in METHODS:
                operations[(path, method.upper())] = (operation or {}).get("requestBody")
    return operations, definitions


def body_schema(request_body):
    content = (request_body or {}).get("content", {}) or {}
    media = content.get("application/json") or next(iter(content.values()), None) or {}
    return media.get("schema")


def check(entry, operations, definitions):
    """Returns a list of problems with one logged request."""
    problems = []
    method = str(entry.get("method", "")).upper()
    full_path = str(entry.get("path", ""))
    if not full_path.startswith(BASE_PATH + "/"):
        return [f"path is outside {BASE_PATH}"]
    path = full_path[len(BASE_PATH):]
    if (path, method) not in operations:
        known = sorted(m for (p, m) in operations if p == path)
        if known:
            return [f"method {method} is not defined for {path} (defined: {', '.join(known)})"]
        return [f"unknown path {path}"]
    request_body = operations[(path, method)]
    if "body_error" in entry:
        return [f"body is not JSON: {entry['body_error']}"]
    body = entry.get("body")
    has_body = body is not None
    if request_body is None:
        if has_body:
            problems.append("operation takes no request body, but one was sent")
        return problems
    if not has_body:
        if request_body.get("required", False):
            problems.append("operation requires a request body, but none was sent")
        return problems
    schema = body_schema(request_body)
    if schema is None:
        return problems
    root = dict(to_json_schema(schema))
    root["definitions"] = definitions
    validator_class = jsonschema.validators.validator_for(root, default=jsonschema.Draft4Validator)
    validator = validator_class(root)
    for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(part) for part in error.absolute_path) or "(body)"
        problems.append(f"{where}: {error.message}")
    return problems


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    try:
        operations, definitions = load_operations(argv[1])
    except (OSError, yaml.YAMLError) as error:
        print(f"cannot read {argv[1]}: {error}", file=sys.stderr)
        return 2
    checked = invalid = 0
    try:
        handle = open(argv[2], encoding="utf-8")
    except OSError as error:
        print(f"cannot read {argv[2]}: {error}", file=sys.stderr)
        return 2
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            checked += 1
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict):
                    raise ValueError("not a JSON object")
            except ValueError as error:
                invalid += 1
                print(f"{argv[2]}:{number}: unreadable log line: {error}")
                continue
            problems = check(entry, operations, definitions)
            if problems:
                invalid += 1
                label = f"{entry.get('method')} {entry.get('path')}"
                for problem in problems:
                    print(f"{argv[2]}:{number}: {label}: {problem}")
    print(f"{checked} requests checked, {invalid} invalid")
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
