#pragma once

#include "tasksnapshot.h"

#include <QJsonArray>
#include <QJsonObject>

// The JSON of SPEC section 5: one object per task, as `taskdeck run --json` prints it.
namespace TaskJson {

QJsonObject task(const TaskSnapshot &task);
// {"frames": [{"file", "line", "function"}...], "awaiting", "children": [...]}, for a
// process node too (see taskjson.cpp).
QJsonObject stack(const StackNode &node);
// [{"file", "line", "function"}...], innermost first (also how the task store keeps them).
QJsonArray frames(const QList<StackFrame> &frames);
// ISO 8601 UTC with milliseconds, "2026-11-21T22:30:01.123Z"; null for -1.
QJsonValue time(qint64 epochMs);

} // namespace TaskJson
