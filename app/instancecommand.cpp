#include "instancecommand.h"

#include "console.h"
#include "ipc/instanceclient.h"
#include "ipc/instanceprotocol.h"
#include "store/taskstore.h"
#include "submitoptions.h"
#include "tasktable.h"

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
    request.dependencies = options.options().dependencies;
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
    QList<QJsonObject> objects;
    for (const QJsonValue &task : tasks)
        objects.append(task.toObject());
    printText(TaskTable::text(objects, request.stacks));
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
