#include "tasktable.h"

#include "console.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>

namespace {

// A time of the task table: the local clock time, with the date when not today.
QString clockTime(const QJsonValue &iso)
{
    if (!iso.isString())
        return QStringLiteral("-");
    const QDateTime time = QDateTime::fromString(iso.toString(), Qt::ISODateWithMs).toLocalTime();
    if (!time.isValid())
        return QStringLiteral("-");
    return time.toString(time.date() == QDate::currentDate() ? QStringLiteral("HH:mm:ss")
                                                             : QStringLiteral("yyyy-MM-dd HH:mm"));
}

QString duration(double seconds)
{
    if (seconds < 60)
        return QStringLiteral("%1s").arg(seconds, 0, 'f', seconds < 10 ? 2 : 1);
    const qint64 s = qint64(seconds);
    if (s < 3600)
        return QStringLiteral("%1m%2s").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1h%2m").arg(s / 3600).arg(s / 60 % 60, 2, 10, QLatin1Char('0'));
}

// The table's duration: as ended, or so far for a running task.
QString taskDuration(const QJsonObject &task)
{
    const QJsonValue ended = task.value(QStringLiteral("duration_s"));
    if (ended.isDouble())
        return duration(ended.toDouble());
    const QJsonValue started = task.value(QStringLiteral("started_at"));
    if (task.value(QStringLiteral("state")).toString() != u"running" || !started.isString())
        return QStringLiteral("-");
    const QDateTime start = QDateTime::fromString(started.toString(), Qt::ISODateWithMs);
    return duration(qMax<qint64>(0, start.msecsTo(QDateTime::currentDateTimeUtc())) / 1000.0);
}

// The table's last column: the result of a task that succeeded, the error of one that
// did not, the progress of a running one.
QString outcome(const QJsonObject &task)
{
    const QString state = task.value(QStringLiteral("state")).toString();
    if (state == u"succeeded") {
        const QJsonValue result = task.value(QStringLiteral("result"));
        if (result.isNull() || result.isUndefined())
            return {};
        return TaskTable::resultText(result);
    }
    if (state == u"running") {
        const QJsonValue progress = task.value(QStringLiteral("progress"));
        return progress.isDouble() ? QStringLiteral("%1%").arg(qRound(progress.toDouble() * 100))
                                   : QString();
    }
    return task.value(QStringLiteral("error")).toString().section(u'\n', 0, 0);
}

} // namespace

namespace TaskTable {

QString oneLine(QString text, int max)
{
    text.replace(u'\n', QStringLiteral(" | "));
    text = Console::escaped(text);
    return text.size() > max ? text.left(max - 1) + QStringLiteral("…") : text;
}

QString resultText(const QJsonValue &result)
{
    if (result.isString())
        return result.toString();
    const QByteArray json = QJsonDocument(QJsonArray{result}).toJson(QJsonDocument::Compact);
    return QString::fromUtf8(json.mid(1, json.size() - 2));
}

QString text(const QList<QJsonObject> &tasks, bool stacks)
{
    const bool workers = !tasks.isEmpty() && tasks.constFirst().contains(QStringLiteral("worker"));
    QStringList header{QStringLiteral("ID"),       QStringLiteral("NAME"),
                       QStringLiteral("STATE"),    QStringLiteral("GROUP"),
                       QStringLiteral("PRI"),      QStringLiteral("TRY"),
                       QStringLiteral("STARTED"),  QStringLiteral("FINISHED"),
                       QStringLiteral("DURATION"), QStringLiteral("RESULT / ERROR")};
    if (workers)
        header.insert(6, QStringLiteral("WORKER"));
    QList<QStringList> rows{header};
    for (const QJsonObject &task : tasks) {
        QStringList row{QString::number(task.value(QStringLiteral("id")).toInteger()),
                        oneLine(task.value(QStringLiteral("name")).toString(), 32),
                        task.value(QStringLiteral("state")).toString(),
                        oneLine(task.value(QStringLiteral("group")).toString(), 16),
                        QString::number(task.value(QStringLiteral("priority")).toInt()),
                        QString::number(task.value(QStringLiteral("attempts")).toInt()),
                        clockTime(task.value(QStringLiteral("started_at"))),
                        clockTime(task.value(QStringLiteral("finished_at"))),
                        taskDuration(task),
                        oneLine(outcome(task), 60)};
        if (workers) {
            const QJsonValue worker = task.value(QStringLiteral("worker"));
            row.insert(6, worker.isString() ? oneLine(worker.toString(), 24) : QStringLiteral("-"));
        }
        rows.append(row);
    }
    QList<qsizetype> widths(header.size(), 0);
    for (const QStringList &row : std::as_const(rows))
        for (qsizetype i = 0; i < row.size(); ++i)
            widths[i] = qMax(widths[i], row[i].size());
    QString out;
    for (qsizetype r = 0; r < rows.size(); ++r) {
        QString line;
        for (qsizetype i = 0; i < rows[r].size(); ++i) {
            const bool number = i == 0 || i == 4 || i == 5; // ID, PRI, TRY: right-aligned
            const bool last = i == rows[r].size() - 1;
            line += number ? rows[r][i].rightJustified(widths[i])
                    : last ? rows[r][i]
                           : rows[r][i].leftJustified(widths[i]);
            if (!last)
                line += QStringLiteral("  ");
        }
        while (line.endsWith(u' '))
            line.chop(1);
        out += line + u'\n';
        if (r == 0 || !stacks)
            continue;
        const QJsonObject &task = tasks[r - 1];
        const QJsonValue stack = task.value(QStringLiteral("stack"));
        if (stack.isObject())
            appendStack(out, stack.toObject(), 4);
        else if (const QString waiting = task.value(QStringLiteral("waiting")).toString();
                 !waiting.isEmpty())
            out += QStringLiteral("    waiting: %1\n").arg(oneLine(waiting, 200));
    }
    return out;
}

// A coroutine and its children as an indented tree: what it awaits, then its frames
// (innermost first).
void appendStack(QString &out, const QJsonObject &stack, int indent)
{
    const QString pad(indent, u' ');
    const QJsonValue awaiting = stack.value(QStringLiteral("awaiting"));
    out += pad +
           (awaiting.isString()
                ? QStringLiteral("awaiting %1").arg(Console::escaped(awaiting.toString()))
                : QStringLiteral("not waiting")) +
           u'\n';
    for (const QJsonValue &value : stack.value(QStringLiteral("frames")).toArray()) {
        const QJsonObject frame = value.toObject();
        out += QStringLiteral("%1  at %2:%3 in %4\n")
                   .arg(pad, Console::escaped(frame.value(QStringLiteral("file")).toString()))
                   .arg(frame.value(QStringLiteral("line")).toInt())
                   .arg(Console::escaped(frame.value(QStringLiteral("function")).toString()));
    }
    for (const QJsonValue &child : stack.value(QStringLiteral("children")).toArray())
        appendStack(out, child.toObject(), indent + 4);
}

} // namespace TaskTable
