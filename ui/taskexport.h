#pragma once

#include "tasksnapshot.h"

#include <QByteArray>
#include <QJsonObject>
#include <QList>
#include <QStringList>

#include <optional>

class QIODevice;

// Tasks written out for the user to keep or to feed to another tool (the dashboard's
// File > Export), in one of two formats:
// - JSON lines: one object per task, the fields of `taskdeck run --json` (TaskJson::task)
//   plus "priority", "group" and "progress" (0..1, null when never set);
// - CSV (RFC 4180): a header row, then one record per task, lines ending in CRLF; a field
//   holding a comma, a double quote, CR or LF is quoted, its quotes doubled.
// Pure functions of their arguments: any thread.
namespace TaskExport {

enum class Format { JsonLines, Csv };

// The format a file name asks for by its suffix: .jsonl, .ndjson or .json for JSON lines,
// .csv for CSV (any case); nullopt for any other name.
std::optional<Format> formatOf(const QString &fileName);
// "jsonl" or "csv".
QString suffix(Format format);

QJsonObject json(const TaskSnapshot &task);
// id, name, file, group, priority, state, attempt, started_at, finished_at, duration_s,
// result, error.
QStringList csvHeader();
// The fields of one task in the header's order: times in ISO 8601 UTC as in the JSON,
// empty when unknown; the result as JSON text, or the string itself when it is one.
QStringList csvFields(const TaskSnapshot &task);
// One record, quoted as RFC 4180 asks, with its CRLF.
QByteArray csvRecord(const QStringList &fields);

// Writes `tasks` in order to `device` (open for writing). False when the device refused
// a write; its errorString() then says why.
bool write(QIODevice &device, Format format, const QList<TaskSnapshot> &tasks);

} // namespace TaskExport
