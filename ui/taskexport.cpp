#include "taskexport.h"

#include "taskjson.h"

#include <QFileInfo>
#include <QIODevice>
#include <QJsonArray>
#include <QJsonDocument>

namespace TaskExport {

namespace {

// Written to the device in chunks of about this size: bounded memory for any export.
constexpr qsizetype ChunkBytes = 64 * 1024;

QString jsonText(const QJsonValue &value)
{
    if (value.isUndefined() || value.isNull())
        return {};
    if (value.isString())
        return value.toString();
    if (value.isObject())
        return QString::fromUtf8(QJsonDocument(value.toObject()).toJson(QJsonDocument::Compact));
    if (value.isArray())
        return QString::fromUtf8(QJsonDocument(value.toArray()).toJson(QJsonDocument::Compact));
    // A number or a boolean as JSON writes it: the one element of a one-element array.
    const QByteArray array = QJsonDocument(QJsonArray{value}).toJson(QJsonDocument::Compact);
    return QString::fromUtf8(array.mid(1, array.size() - 2));
}

bool flush(QIODevice &device, QByteArray &buffer)
{
    const bool ok = device.write(buffer) == buffer.size();
    buffer.clear();
    return ok;
}

} // namespace

std::optional<Format> formatOf(const QString &fileName)
{
    const QString suffix = QFileInfo(fileName).suffix().toLower();
    if (suffix == QLatin1String("jsonl") || suffix == QLatin1String("ndjson") ||
        suffix == QLatin1String("json"))
        return Format::JsonLines;
    if (suffix == QLatin1String("csv"))
        return Format::Csv;
    return std::nullopt;
}

QString suffix(Format format)
{
    return format == Format::Csv ? QStringLiteral("csv") : QStringLiteral("jsonl");
}

QJsonObject json(const TaskSnapshot &task)
{
    QJsonObject object = TaskJson::task(task);
    object.insert(QStringLiteral("priority"), task.priority);
    object.insert(QStringLiteral("group"), task.group);
    object.insert(QStringLiteral("progress"),
                  task.progress < 0 ? QJsonValue(QJsonValue::Null) : QJsonValue(task.progress));
    return object;
}

QStringList csvHeader()
{
    return {
        QStringLiteral("id"),         QStringLiteral("name"),       QStringLiteral("file"),
        QStringLiteral("group"),      QStringLiteral("priority"),   QStringLiteral("state"),
        QStringLiteral("attempt"),    QStringLiteral("started_at"), QStringLiteral("finished_at"),
        QStringLiteral("duration_s"), QStringLiteral("result"),     QStringLiteral("error")};
}

QStringList csvFields(const TaskSnapshot &task)
{
    QString duration;
    if (task.startedAtMs >= 0 && task.finishedAtMs >= 0)
        duration = QString::number((task.finishedAtMs - task.startedAtMs) / 1000.0, 'f', 3);
    return {QString::number(task.id),
            task.name,
            task.file,
            task.group,
            QString::number(task.priority),
            taskStateName(task.state),
            QString::number(task.attempt),
            TaskJson::time(task.startedAtMs).toString(),
            TaskJson::time(task.finishedAtMs).toString(),
            duration,
            jsonText(task.result),
            task.error};
}

QByteArray csvRecord(const QStringList &fields)
{
    QByteArray record;
    for (qsizetype i = 0; i < fields.size(); ++i) {
        if (i > 0)
            record += ',';
        const QByteArray field = fields[i].toUtf8();
        if (field.contains(',') || field.contains('"') || field.contains('\r') ||
            field.contains('\n')) {
            QByteArray quoted = field;
            quoted.replace('"', "\"\"");
            record += '"' + quoted + '"';
        } else {
            record += field;
        }
    }
    record += "\r\n";
    return record;
}

bool write(QIODevice &device, Format format, const QList<TaskSnapshot> &tasks)
{
    QByteArray buffer;
    if (format == Format::Csv)
        buffer = csvRecord(csvHeader());
    for (const TaskSnapshot &task : tasks) {
        if (format == Format::Csv) {
            buffer += csvRecord(csvFields(task));
        } else {
            buffer += QJsonDocument(json(task)).toJson(QJsonDocument::Compact);
            buffer += '\n';
        }
        if (buffer.size() >= ChunkBytes && !flush(device, buffer))
            return false;
    }
    return buffer.isEmpty() || flush(device, buffer);
}

} // namespace TaskExport
