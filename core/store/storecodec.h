#pragma once

#include "tasksnapshot.h"

#include <QByteArray>
#include <QJsonValue>
#include <QString>
#include <QStringList>

#include <memory>
#include <optional>

// How the task store writes values into text columns and reads them back, exactly:
// every function here round-trips with its pair. Pure functions; safe on any thread.
namespace StoreCodec {

// A coroutine node as {"frames": [{"file", "line", "function"}...], "awaiting", "since",
// "id", "children": [...]} (TaskJson::stack without awaitingSinceMs and the id would not
// round-trip), a process node as {"process": {"pid", "command", "name", "state", "cpu",
// "started", "running_ms", "exited"}, "children": [...]}. Empty for a null stack. A stack
// stored before nodes were typed (a process written as a coroutine with one frame)
// decodes to process nodes.
QString stackText(const std::shared_ptr<const StackNode> &stack);
std::shared_ptr<const StackNode> stackFromText(const QString &text);

// A result that is a whole number (the common case), as one; else nullopt.
std::optional<qint64> integerResult(const QJsonValue &result);
// A result as JSON text ("42", "\"ok\"", "{...}"); empty for an undefined result.
QString resultText(const QJsonValue &result);
QJsonValue resultFromText(const QString &text);

// A list of strings as a JSON array (log lines may hold newlines, commands spaces).
QString stringsText(const QStringList &strings);
QStringList stringsFromText(const QString &text);

// A spec's --arg pairs as [["key", "value"], ...].
QString argsText(const QList<std::pair<QString, QString>> &args);
QList<std::pair<QString, QString>> argsFromText(const QString &text);

QString kindName(ScriptKind kind);
std::optional<ScriptKind> kindFromName(const QString &name);
std::optional<TaskState> stateFromName(const QString &name);

} // namespace StoreCodec
