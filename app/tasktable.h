#pragma once

#include <QJsonObject>
#include <QList>
#include <QString>

// The text the task commands print for people (`ps`, `wait`), from the JSON objects they
// print with --json, so that the local dashboard's and the cluster's tasks look alike.
// Everything a task wrote is escaped (Console::escaped): no control character reaches the
// terminal.
namespace TaskTable {

// `text` on one line (newlines as " | "), escaped, cut to `max` characters with "…".
QString oneLine(QString text, int max);
// A result as JSON text, a string as itself.
QString resultText(const QJsonValue &result);
// The `ps` table: ID, NAME, STATE, GROUP, PRI, TRY, [WORKER,] STARTED, FINISHED, DURATION,
// RESULT / ERROR (WORKER when the objects have a "worker" key); with `stacks`, each task's
// "stack" as an indented tree under its row, or why a pending one waits.
QString text(const QList<QJsonObject> &tasks, bool stacks);
// A stack object of SPEC section 5 as an indented tree: what it awaits, then its frames
// (innermost first), then its children.
void appendStack(QString &out, const QJsonObject &stack, int indent);

} // namespace TaskTable
