#include "instancecommand.h"

#include "console.h"
#include "ipc/instanceclient.h"
#include "ipc/instanceprotocol.h"
#include "store/taskstore.h"
#include "submitoptions.h"

#include <QCommandLineParser>
#include <QDateTime>
#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <cstdio>

namespace {

using Console::printErr;

using Console::printOut;

using Console::printText;

QString oneLine(QString text, int max)
{
    text.replace(u'\n', QStringLiteral(" | "));
    text = Console::escaped(text);
    return text.size() > max ? text.left(max - 1) + QStringLiteral("…") : text;
}

// The options every instance command has, and what they all do with them.
class CommandLine
{
public:
    CommandLine(const QString &command, const QString &description)
        : m_command(command)
        , m_dataDir(QStringLiteral("data-dir"),
                    QStringLiteral("The data directory of the Taskdeck to ask (default: %1).")
                        .arg(TaskStore::defaultDataDir()),
                    QStringLiteral("DIR"))
        , m_json(QStringLiteral("json"), QStringLiteral("Print JSON, one object per line."))
        , m_help({QStringLiteral("h"), QStringLiteral("help")}, QStringLiteral("Show this help."))
    {
        m_parser.setApplicationDescription(description);
        m_parser.setSingleDashWordOptionMode(QCommandLineParser::ParseAsLongOptions);
        m_parser.addOptions({m_dataDir, m_json, m_help});
    }

    QCommandLineParser &parser() { return m_parser; }

    // Parses; returns an exit status to stop with (help, usage error), or -1 to go on.
    int parse(const QStringList &arguments)
    {
        if (!m_parser.parse(QStringList{QStringLiteral("taskdeck ") + m_command} + arguments))
            return usageError(m_parser.errorText());
        if (m_parser.isSet(m_help)) {
            // "Usage: /path/to/taskdeck [options]" names the binary, not the command.
            QString help = m_parser.helpText();
            const qsizetype options = help.indexOf(QStringLiteral(" [options]"));
            if (help.startsWith(QStringLiteral("Usage: ")) && options > 0)
                help.replace(7, options - 7, QStringLiteral("taskdeck ") + m_command);
            printOut(help.toLocal8Bit());
            return InstanceCommand::Success;
        }
        return -1;
    }

    int usageError(const QString &message) const
    {
        printErr(QStringLiteral("taskdeck %1: %2").arg(m_command, message));
        printErr(QStringLiteral("Try 'taskdeck %1 --help'.").arg(m_command));
        return InstanceCommand::UsageError;
    }

    bool json() const { return m_parser.isSet(m_json); }

    QString dataDir() const
    {
        return m_parser.isSet(m_dataDir) ? QDir(m_parser.value(m_dataDir)).absolutePath()
                                         : TaskStore::defaultDataDir();
    }

    // Sends `request` to the Taskdeck running for the data directory. On any failure
    // (none running, no answer, an error reply unless `errorReplies`) says why on stderr
    // and returns nullopt.
    std::optional<QJsonObject> ask(const InstanceProtocol::Request &request,
                                   bool errorReplies = false) const
    {
        const QString dir = dataDir();
        QString why;
        const QString name = InstanceProtocol::serverName(dir, &why);
        if (name.isEmpty()) {
            printErr(QStringLiteral("taskdeck: %1").arg(why));
            return std::nullopt;
        }
        InstanceClient client;
        if (!client.connectTo(name)) {
            if (client.isNobodyListening())
                printErr(QStringLiteral("taskdeck: no running Taskdeck for %1 (start the "
                                        "dashboard with `taskdeck`)")
                             .arg(dir));
            else
                printErr(QStringLiteral("taskdeck: cannot reach the Taskdeck running for %1: %2")
                             .arg(dir, client.errorString()));
            return std::nullopt;
        }
        const auto reply = client.request(request);
        if (!reply) {
            printErr(QStringLiteral("taskdeck: no answer from the Taskdeck running for %1: %2")
                         .arg(dir, client.errorString()));
            return std::nullopt;
        }
        if (!errorReplies && !reply->value(QStringLiteral("ok")).toBool()) {
            printErr(QStringLiteral("taskdeck: the running Taskdeck refused: %1")
                         .arg(reply->value(QStringLiteral("error")).toString()));
            return std::nullopt;
        }
        return reply;
    }

private:
    QString m_command;
    QCommandLineParser m_parser;
    QCommandLineOption m_dataDir;
    QCommandLineOption m_json;
    QCommandLineOption m_help;
};

// "17", "17-19" for consecutive ids, else "17, 21".
QString idList(const QJsonArray &ids)
{
    if (ids.size() > 1 && ids.last().toInteger() - ids.first().toInteger() == ids.size() - 1)
        return QStringLiteral("%1-%2").arg(ids.first().toInteger()).arg(ids.last().toInteger());
    QStringList parts;
    for (const QJsonValue &id : ids)
        parts.append(QString::number(id.toInteger()));
    return parts.join(QStringLiteral(", "));
}

// `file` (absolute, from the reply) as the user typed it, or typed its folder.
QString asTyped(const QString &file, const QHash<QString, QString> &given)
{
    if (const auto it = given.constFind(file); it != given.constEnd())
        return *it;
    for (auto it = given.constBegin(); it != given.constEnd(); ++it) {
        const QString folder = it.key().endsWith(u'/') ? it.key() : it.key() + u'/';
        if (file.startsWith(folder)) {
            const QString typed = it.value().endsWith(u'/') ? it.value() : it.value() + u'/';
            return typed + file.mid(folder.size());
        }
    }
    return file;
}

int submit(const QStringList &arguments)
{
    CommandLine command(QStringLiteral("submit"),
                        QStringLiteral("Submits task scripts to the running Taskdeck.\n"
                                       "Exit status: 0 all submitted (and saved, if the "
                                       "Taskdeck has a task store); 1 a file was rejected, "
                                       "the tasks could not be saved, or no Taskdeck runs; 2 "
                                       "usage error."));
    SubmitOptions options;
    options.addTo(command.parser());
    command.parser().addPositionalArgument(QStringLiteral("FILE"),
                                           QStringLiteral("Task scripts to submit."),
                                           QStringLiteral("FILE..."));
    if (const int status = command.parse(arguments); status >= 0)
        return status;
    if (const QString error = options.read(command.parser()); !error.isEmpty())
        return command.usageError(error);
    const QStringList files = command.parser().positionalArguments();
    if (files.isEmpty())
        return command.usageError(QStringLiteral("no task scripts given"));
    const qint64 tasks = qint64(files.size()) * options.options().repeat;
    if (tasks > InstanceProtocol::MaxTasksPerSubmit)
        return command.usageError(QStringLiteral("at most %1 tasks per submit, not %2")
                                      .arg(InstanceProtocol::MaxTasksPerSubmit)
                                      .arg(tasks));

    InstanceProtocol::Request request;
    request.command = InstanceProtocol::Command::Submit;
    request.overrides = options.options().overrides;
    request.repeat = options.options().repeat;
    QHash<QString, QString> given; // absolute path -> as typed
    for (const QString &file : files) {
        const QString absolute = QDir::cleanPath(QDir::current().absoluteFilePath(file));
        request.files.append(absolute);
        given.insert(absolute, file);
    }
    // An error reply that has ids: the tasks are queued but the store could not save them.
    const auto reply = command.ask(request, true);
    if (!reply)
        return InstanceCommand::Failure;
    const bool ok = reply->value(QStringLiteral("ok")).toBool();
    const QJsonArray ids = reply->value(QStringLiteral("ids")).toArray();
    if (!ok && !reply->contains(QStringLiteral("ids"))) {
        printErr(QStringLiteral("taskdeck: the running Taskdeck refused: %1")
                     .arg(reply->value(QStringLiteral("error")).toString()));
        return InstanceCommand::Failure;
    }

    if (command.json()) {
        printOut(InstanceProtocol::line(*reply));
    } else {
        QByteArray out;
        for (const QJsonValue &value : reply->value(QStringLiteral("submitted")).toArray()) {
            const QJsonObject entry = value.toObject();
            const QString file = entry.value(QStringLiteral("file")).toString();
            const QJsonArray ids = entry.value(QStringLiteral("ids")).toArray();
            out += QStringLiteral("submitted %1 as %2 %3\n")
                       .arg(asTyped(file, given),
                            ids.size() == 1 ? QStringLiteral("task") : QStringLiteral("tasks"),
                            idList(ids))
                       .toUtf8();
        }
        printOut(out);
    }
    const QJsonArray rejected = reply->value(QStringLiteral("rejected")).toArray();
    for (const QJsonValue &reason : rejected)
        printErr(QStringLiteral("taskdeck: %1").arg(reason.toString()));
    const QString which = QStringLiteral("%1 %2").arg(
        ids.size() == 1 ? QStringLiteral("task") : QStringLiteral("tasks"), idList(ids));
    if (!ok) {
        // Queued in the running Taskdeck's memory, and its store keeps trying to write them.
        printErr(QStringLiteral("taskdeck: NOT SAVED: %1; %2 %3 queued and will run, but "
                                "will be lost if Taskdeck stops before its store can write "
                                "again")
                     .arg(reply->value(QStringLiteral("error")).toString(), which,
                          ids.size() == 1 ? QStringLiteral("is") : QStringLiteral("are")));
        return InstanceCommand::Failure;
    }
    if (!ids.isEmpty() && !reply->value(QStringLiteral("saved")).toBool(true))
        printErr(QStringLiteral("taskdeck: NOT SAVED: %1; %2 will run, but will not survive a "
                                "restart of Taskdeck")
                     .arg(reply->value(QStringLiteral("warning"))
                              .toString(QStringLiteral("the running Taskdeck has no task store")),
                          which));
    return rejected.isEmpty() ? InstanceCommand::Success : InstanceCommand::Failure;
}

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
        if (result.isString())
            return result.toString();
        const QByteArray json = QJsonDocument(QJsonArray{result}).toJson(QJsonDocument::Compact);
        return QString::fromUtf8(json.mid(1, json.size() - 2));
    }
    if (state == u"running") {
        const QJsonValue progress = task.value(QStringLiteral("progress"));
        return progress.isDouble() ? QStringLiteral("%1%").arg(qRound(progress.toDouble() * 100))
                                   : QString();
    }
    return task.value(QStringLiteral("error")).toString().section(u'\n', 0, 0);
}

// A coroutine and its children as an indented tree: what it awaits, then its frames
// (innermost first).
void appendStack(QString &out, const QJsonObject &stack, int indent)
{
    const QString pad(indent, u' ');
    const QJsonValue awaiting = stack.value(QStringLiteral("awaiting"));
    out += pad +
           (awaiting.isString() ? QStringLiteral("awaiting %1").arg(awaiting.toString())
                                : QStringLiteral("not waiting")) +
           u'\n';
    for (const QJsonValue &value : stack.value(QStringLiteral("frames")).toArray()) {
        const QJsonObject frame = value.toObject();
        out += QStringLiteral("%1  at %2:%3 in %4\n")
                   .arg(pad, frame.value(QStringLiteral("file")).toString())
                   .arg(frame.value(QStringLiteral("line")).toInt())
                   .arg(frame.value(QStringLiteral("function")).toString());
    }
    for (const QJsonValue &child : stack.value(QStringLiteral("children")).toArray())
        appendStack(out, child.toObject(), indent + 4);
}

int ps(const QStringList &arguments)
{
    CommandLine command(QStringLiteral("ps"),
                        QStringLiteral("Lists the tasks of the running Taskdeck.\n"
                                       "Exit status: 0 listed; 1 no Taskdeck runs; 2 usage "
                                       "error."));
    const QCommandLineOption stacksOpt(QStringLiteral("stacks"),
                                       QStringLiteral("Show each task's stack: where a running "
                                                      "task is suspended, where an ended one "
                                                      "stopped, why a pending one waits."));
    command.parser().addOption(stacksOpt);
    if (const int status = command.parse(arguments); status >= 0)
        return status;
    if (!command.parser().positionalArguments().isEmpty())
        return command.usageError(QStringLiteral("unexpected argument \"%1\"")
                                      .arg(command.parser().positionalArguments().constFirst()));
    InstanceProtocol::Request request;
    request.command = InstanceProtocol::Command::Ps;
    request.stacks = command.parser().isSet(stacksOpt);
    const auto reply = command.ask(request);
    if (!reply)
        return InstanceCommand::Failure;
    const QJsonArray tasks = reply->value(QStringLiteral("tasks")).toArray();

    if (command.json()) {
        QByteArray out;
        for (const QJsonValue &task : tasks)
            out += InstanceProtocol::line(task.toObject());
        printOut(out);
        return InstanceCommand::Success;
    }
    if (tasks.isEmpty()) {
        printOut("no tasks\n");
        return InstanceCommand::Success;
    }
    QList<QStringList> rows{{QStringLiteral("ID"), QStringLiteral("NAME"), QStringLiteral("STATE"),
                             QStringLiteral("GROUP"), QStringLiteral("PRI"), QStringLiteral("TRY"),
                             QStringLiteral("STARTED"), QStringLiteral("FINISHED"),
                             QStringLiteral("DURATION"), QStringLiteral("RESULT / ERROR")}};
    for (const QJsonValue &value : tasks) {
        const QJsonObject task = value.toObject();
        rows.append({QString::number(task.value(QStringLiteral("id")).toInteger()),
                     oneLine(task.value(QStringLiteral("name")).toString(), 32),
                     task.value(QStringLiteral("state")).toString(),
                     oneLine(task.value(QStringLiteral("group")).toString(), 16),
                     QString::number(task.value(QStringLiteral("priority")).toInt()),
                     QString::number(task.value(QStringLiteral("attempts")).toInt()),
                     clockTime(task.value(QStringLiteral("started_at"))),
                     clockTime(task.value(QStringLiteral("finished_at"))), taskDuration(task),
                     oneLine(outcome(task), 60)});
    }
    QList<qsizetype> widths(rows.constFirst().size(), 0);
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
        if (r == 0 || !request.stacks)
            continue;
        const QJsonObject task = tasks[r - 1].toObject();
        const QJsonValue stack = task.value(QStringLiteral("stack"));
        if (stack.isObject())
            appendStack(out, stack.toObject(), 4);
        else if (const QString waiting = task.value(QStringLiteral("waiting")).toString();
                 !waiting.isEmpty())
            out += QStringLiteral("    waiting: %1\n").arg(waiting);
    }
    printText(out);
    return InstanceCommand::Success;
}

int cancel(const QStringList &arguments)
{
    CommandLine command(QStringLiteral("cancel"),
                        QStringLiteral("Cancels tasks of the running Taskdeck by id (see "
                                       "`taskdeck ps`).\n"
                                       "Exit status: 0 every id was known; 1 an id is unknown "
                                       "or no Taskdeck runs; 2 usage error."));
    command.parser().addPositionalArgument(QStringLiteral("ID"), QStringLiteral("Task ids."),
                                           QStringLiteral("ID..."));
    if (const int status = command.parse(arguments); status >= 0)
        return status;
    InstanceProtocol::Request request;
    request.command = InstanceProtocol::Command::Cancel;
    for (const QString &text : command.parser().positionalArguments()) {
        bool ok = false;
        const qulonglong id = text.toULongLong(&ok);
        if (!ok || id == 0 || id > (qulonglong(1) << 53))
            return command.usageError(QStringLiteral("a task id is a number such as 17, not "
                                                     "\"%1\"")
                                          .arg(text));
        request.ids.append(TaskId(id));
    }
    if (request.ids.isEmpty())
        return command.usageError(QStringLiteral("no task ids given"));
    const auto reply = command.ask(request);
    if (!reply)
        return InstanceCommand::Failure;

    const QJsonArray unknown = reply->value(QStringLiteral("unknown")).toArray();
    if (command.json()) {
        printOut(InstanceProtocol::line(*reply));
    } else {
        QByteArray out;
        for (const QJsonValue &id : reply->value(QStringLiteral("cancelled")).toArray())
            out += QStringLiteral("cancelled task %1\n").arg(id.toInteger()).toUtf8();
        for (const QJsonValue &value : reply->value(QStringLiteral("finished")).toArray()) {
            const QJsonObject task = value.toObject();
            out += QStringLiteral("task %1 had already ended (%2)\n")
                       .arg(task.value(QStringLiteral("id")).toInteger())
                       .arg(task.value(QStringLiteral("state")).toString())
                       .toUtf8();
        }
        printOut(out);
    }
    for (const QJsonValue &id : unknown)
        printErr(QStringLiteral("taskdeck: no task %1").arg(id.toInteger()));
    return unknown.isEmpty() ? InstanceCommand::Success : InstanceCommand::Failure;
}

} // namespace

bool InstanceCommand::isCommand(const QString &name)
{
    return name == u"submit" || name == u"ps" || name == u"cancel";
}

int InstanceCommand::run(const QString &command, const QStringList &arguments)
{
    if (command == u"submit")
        return submit(arguments);
    if (command == u"ps")
        return ps(arguments);
    if (command == u"cancel")
        return cancel(arguments);
    printErr(QStringLiteral("taskdeck: unknown command \"%1\"").arg(command));
    return UsageError;
}
