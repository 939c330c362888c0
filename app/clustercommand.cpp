#include "clustercommand.h"

#include "cluster/clusterprotocol.h"
#include "cluster/redisclient.h"
#include "console.h"
#include "engine.h"
#include "scriptloader.h"
#include "submission.h"
#include "submitoptions.h"
#include "taskjson.h"
#include "tasktable.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QFileInfo>
#include <QHostInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>
#include <QSocketNotifier>
#include <QTemporaryDir>
#include <QTimer>

#include <csignal>
#include <fcntl.h>
#include <unistd.h>

namespace {

using Console::printErr;
using Console::printOut;
using Console::printText;

constexpr int ConnectLimitMs = 10000; // SPEC 8: no Redis is one line and exit 1 within 10 s
constexpr int PollMs = 1000;          // a worker's claim when nothing woke it: a safety net only

// The options every cluster command has: where Redis is, the namespace, --json, --help.
class CommandLine
{
public:
    CommandLine(const QString &command, const QString &description)
        : m_command(command)
        , m_redis(QStringLiteral("redis"),
                  QStringLiteral("The cluster's Redis: redis://[user:password@]host[:port][/db], "
                                 "rediss://..., unix://[user:password@]/path[?db=N] (default: "
                                 "$TASKDECK_REDIS)."),
                  QStringLiteral("URL"))
        , m_redisCa(QStringLiteral("redis-ca"),
                    QStringLiteral("Extra CA certificates (PEM) for rediss://."),
                    QStringLiteral("FILE"))
        , m_namespace(QStringLiteral("namespace"),
                      QStringLiteral("Prefix of every key (default: taskdeck)."),
                      QStringLiteral("NAME"), QStringLiteral("taskdeck"))
        , m_json(QStringLiteral("json"), QStringLiteral("Print JSON, one object per line."))
        , m_help({QStringLiteral("h"), QStringLiteral("help")}, QStringLiteral("Show this help."))
    {
        m_parser.setApplicationDescription(description);
        m_parser.addOptions({m_redis, m_redisCa, m_namespace, m_help});
    }

    QCommandLineParser &parser() { return m_parser; }
    void addJson() { m_parser.addOption(m_json); }
    bool json() const { return m_parser.isSet(m_json); }
    QString ns() const { return m_parser.value(m_namespace); }

    // Parses; returns an exit status to stop with (help, usage error), or -1 to go on.
    int parse(const QStringList &arguments)
    {
        if (!m_parser.parse(QStringList{QStringLiteral("taskdeck ") + m_command} + arguments))
            return usageError(m_parser.errorText());
        if (m_parser.isSet(m_help)) {
            QString help = m_parser.helpText();
            const qsizetype options = help.indexOf(QStringLiteral(" [options]"));
            if (help.startsWith(QStringLiteral("Usage: ")) && options > 0)
                help.replace(7, options - 7, QStringLiteral("taskdeck ") + m_command);
            printOut(help.toLocal8Bit());
            return ClusterCommand::Success;
        }
        const QString text = m_parser.isSet(m_redis) ? m_parser.value(m_redis)
                                                     : qEnvironmentVariable("TASKDECK_REDIS");
        if (text.isEmpty())
            return usageError(QStringLiteral("no Redis given: --redis URL or TASKDECK_REDIS"));
        QString error;
        const auto url = RedisUrl::parse(text, &error);
        if (!url)
            return usageError(error);
        m_url = *url;
        if (m_parser.isSet(m_redisCa))
            m_url.caFile = m_parser.value(m_redisCa);
        if (ns().isEmpty() || ns().contains(u':'))
            return usageError(QStringLiteral("a namespace is a non-empty name without ':'"));
        return -1;
    }

    int usageError(const QString &message) const
    {
        printErr(QStringLiteral("taskdeck %1: %2").arg(m_command, message));
        printErr(QStringLiteral("Try 'taskdeck %1 --help'.").arg(m_command));
        return ClusterCommand::UsageError;
    }

    const RedisUrl &url() const { return m_url; }

private:
    QString m_command;
    QCommandLineParser m_parser;
    QCommandLineOption m_redis;
    QCommandLineOption m_redisCa;
    QCommandLineOption m_namespace;
    QCommandLineOption m_json;
    QCommandLineOption m_help;
    RedisUrl m_url;
};

// Runs the event loop until `start` calls the done function it is given, or `timeoutMs`
// passes; false on the timeout.
bool await(const std::function<void(std::function<void()>)> &start, int timeoutMs)
{
    auto finished = std::make_shared<bool>(false);
    auto loop = std::make_shared<QEventLoop>();
    start([finished, loop] {
        *finished = true;
        loop->quit();
    });
    if (!*finished) {
        QTimer::singleShot(timeoutMs, loop.get(), &QEventLoop::quit);
        loop->exec();
    }
    return *finished;
}

// One connection for a command that asks and ends: no reconnect, every wait bounded.
class Session
{
public:
    explicit Session(const CommandLine &command)
    {
        RedisClient::Options options;
        options.url = command.url();
        options.reconnect = false;
        options.connectTimeoutMs = 5000;
        options.commandTimeoutMs = 5000;
        options.clientName = QStringLiteral("taskdeck-cli");
        m_client = std::make_unique<RedisClient>(options);
        m_protocol = std::make_unique<ClusterProtocol>(m_client.get(), command.ns());
        m_url = command.url();
    }

    // Connects; on failure says why on stderr (one line) and returns false.
    bool open()
    {
        // Every reason the client gives names the server (or the CA file) itself.
        QString problem;
        const bool done = await(
            [this, &problem](std::function<void()> done) {
                const auto failed = [done, &problem](const QString &why) {
                    problem = why;
                    done();
                };
                QObject::connect(m_client.get(), &RedisClient::ready, m_client.get(), done);
                QObject::connect(m_client.get(), &RedisClient::fatalError, m_client.get(), failed);
                QObject::connect(m_client.get(), &RedisClient::disconnected, m_client.get(),
                                 failed);
                m_client->open();
            },
            ConnectLimitMs);
        QObject::disconnect(m_client.get(), nullptr, m_client.get(), nullptr);
        if (m_client->isReady())
            return true;
        if (!done)
            problem = QStringLiteral("no answer from %1 within %2 s")
                          .arg(urlText())
                          .arg(ConnectLimitMs / 1000);
        printErr(QStringLiteral("taskdeck: %1").arg(problem));
        return false;
    }

    // Runs one protocol call to its end; on a timeout or error says so and returns false.
    bool call(const std::function<void(std::function<void(const QString &)>)> &start)
    {
        QString error;
        const bool done = await(
            [&start, &error](std::function<void()> done) {
                start([done, &error](const QString &e) {
                    error = e;
                    done();
                });
            },
            ConnectLimitMs);
        if (!done)
            error = QStringLiteral("no answer within %1 s").arg(ConnectLimitMs / 1000);
        if (error.isEmpty())
            return true;
        printErr(QStringLiteral("taskdeck: Redis at %1: %2").arg(urlText(), error));
        return false;
    }

    ClusterProtocol &protocol() { return *m_protocol; }

private:
    QString urlText() const { return m_url.display(); }

    std::unique_ptr<RedisClient> m_client;
    std::unique_ptr<ClusterProtocol> m_protocol;
    RedisUrl m_url;
};

std::optional<TaskId> parseId(const QString &text)
{
    bool ok = false;
    const qulonglong id = text.toULongLong(&ok);
    if (!ok || id == 0 || id > (qulonglong(1) << 53))
        return std::nullopt;
    return TaskId(id);
}

// The task ids `command` was given (at least one), or nullopt once it has said why not
// (a usage error, its exit status in *status).
std::optional<QList<TaskId>> parseIds(CommandLine &command, int *status)
{
    QList<TaskId> ids;
    for (const QString &text : command.parser().positionalArguments()) {
        const auto id = parseId(text);
        if (!id) {
            *status = command.usageError(
                QStringLiteral("a task id is a number such as 17, not \"%1\"").arg(text));
            return std::nullopt;
        }
        ids.append(*id);
    }
    if (ids.isEmpty()) {
        *status = command.usageError(QStringLiteral("no task ids given"));
        return std::nullopt;
    }
    return ids;
}

QByteArray jsonLine(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact) + '\n';
}

// The run --json object plus what the cluster knows: priority, group, progress, worker.
QJsonObject taskObject(const ClusterProtocol::Task &task)
{
    QJsonObject object = TaskJson::task(task.snapshot);
    object.insert(QStringLiteral("priority"), task.snapshot.priority);
    object.insert(QStringLiteral("group"), task.snapshot.group);
    object.insert(QStringLiteral("progress"), task.snapshot.progress < 0
                                                  ? QJsonValue(QJsonValue::Null)
                                                  : QJsonValue(task.snapshot.progress));
    object.insert(QStringLiteral("worker"),
                  task.worker.isEmpty() ? QJsonValue(QJsonValue::Null) : QJsonValue(task.worker));
    return object;
}

// ---- submit --------------------------------------------------------------------------

int submit(const QStringList &arguments)
{
    CommandLine command(QStringLiteral("submit"),
                        QStringLiteral("Queues task scripts on the cluster; their text travels "
                                       "with them.\nExit status: 0 queued; 1 a file was "
                                       "rejected or Redis failed; 2 usage error."));
    command.addJson();
    SubmitOptions options;
    options.addTo(command.parser());
    const QCommandLineOption keepOpt(QStringLiteral("keep"),
                                     QStringLiteral("How long Redis keeps each ended task "
                                                    "(default 7d)."),
                                     QStringLiteral("DUR"));
    command.parser().addOption(keepOpt);
    command.parser().addPositionalArgument(QStringLiteral("FILE"), QStringLiteral("Task scripts."),
                                           QStringLiteral("FILE..."));
    if (const int status = command.parse(arguments); status >= 0)
        return status;
    if (const QString error = options.read(command.parser()); !error.isEmpty())
        return command.usageError(error);
    qint64 keepMs = ClusterProtocol::DefaultKeepMs;
    if (command.parser().isSet(keepOpt)) {
        const auto keep = ScriptLoader::parseDuration(command.parser().value(keepOpt));
        if (!keep || *keep <= 0)
            return command.usageError(QStringLiteral("--keep needs a duration such as 7d or 12h"));
        keepMs = *keep;
    }
    const QStringList files = command.parser().positionalArguments();
    if (files.isEmpty())
        return command.usageError(QStringLiteral("no task scripts given"));

    // The one submission path (folders expanded in name order, overrides, repeats).
    const Submission submission = Submission::load(files, options.options());
    bool rejected = !submission.rejections().isEmpty();
    for (const QString &reason : submission.rejections())
        printErr(QStringLiteral("taskdeck: %1").arg(reason));
    QList<TaskSpec> specs;
    QList<QString> given; // per spec, the file as the user would type it
    for (const Submission::Entry &entry : submission.entries()) {
        TaskSpec spec = entry.spec;
        const QString shown = QDir::isAbsolutePath(files.value(entry.input))
                                  ? spec.file
                                  : QDir::current().relativeFilePath(spec.file);
        if (spec.kind == ScriptKind::Process) {
            // The whole file travels: the worker writes it to a private directory.
            QFile whole(spec.file);
            if (!whole.open(QIODevice::ReadOnly)) {
                printErr(QStringLiteral("taskdeck: %1: cannot read: %2")
                             .arg(shown, whole.errorString()));
                rejected = true;
                continue;
            }
            spec.source = whole.readAll();
        }
        for (int i = 0; i < entry.copies; ++i) {
            specs.append(spec);
            given.append(shown);
        }
    }
    if (specs.isEmpty())
        return ClusterCommand::Failure;
    const DependencyOptions &dependencies = options.options().dependencies;
    if (dependencies.chain && specs.size() > ClusterProtocol::SubmitBatch)
        return command.usageError(QStringLiteral("--chain takes at most %1 tasks on a cluster")
                                      .arg(ClusterProtocol::SubmitBatch));

    Session session(command);
    if (!session.open())
        return ClusterCommand::Failure;
    QList<TaskId> ids;
    if (!session.call([&](auto done) {
            session.protocol().submit(
                specs, keepMs,
                [&ids, done](const QList<TaskId> &got, const QString &e) {
                    ids = got;
                    done(e);
                },
                dependencies);
        }))
        return ClusterCommand::Failure;
    QByteArray out;
    for (qsizetype i = 0; i < ids.size(); ++i) {
        if (command.json())
            out += jsonLine(QJsonObject{{QStringLiteral("id"), qint64(ids[i])}});
        else
            out += QStringLiteral("submitted %1 as task %2\n")
                       .arg(Console::escaped(given[i]))
                       .arg(ids[i])
                       .toUtf8();
    }
    printOut(out);
    return rejected ? ClusterCommand::Failure : ClusterCommand::Success;
}

// ---- ps, wait ---------------------------------------------------------------------------

int ps(const QStringList &arguments)
{
    CommandLine command(QStringLiteral("ps"),
                        QStringLiteral("Lists the cluster's tasks.\nExit status: 0 listed; 1 "
                                       "Redis failed; 2 usage error."));
    command.addJson();
    const QCommandLineOption stacksOpt(
        QStringLiteral("stacks"),
        QStringLiteral("Show each task's stack: live (from its worker, at most "
                       "1 s old) for a running one, where it "
                       "stopped for an ended one."));
    command.parser().addOption(stacksOpt);
    if (const int status = command.parse(arguments); status >= 0)
        return status;
    Session session(command);
    if (!session.open())
        return ClusterCommand::Failure;
    const bool withStacks = command.parser().isSet(stacksOpt);
    QHash<TaskId, QByteArray> live; // running tasks' stacks, from their workers
    if (withStacks) {
        bool fresh = false;
        if (!session.call([&](auto done) {
                session.protocol().wantStacks([&fresh, done](bool f, const QString &e) {
                    fresh = f;
                    done(e);
                });
            }))
            return ClusterCommand::Failure;
        if (!fresh) // workers write stacks on their next heartbeat (every second)
            await([](std::function<void()> done) { QTimer::singleShot(1500, done); }, 3000);
        if (!session.call([&](auto done) {
                session.protocol().stacks([&live, done](const auto &got, const QString &e) {
                    live = got;
                    done(e);
                });
            }))
            return ClusterCommand::Failure;
    }
    QList<ClusterProtocol::Task> tasks;
    if (!session.call([&](auto done) {
            session.protocol().tasks({}, [&tasks, done](const auto &got, const QString &e) {
                tasks = got;
                done(e);
            });
        }))
        return ClusterCommand::Failure;
    if (command.json()) {
        QByteArray out;
        for (const auto &task : std::as_const(tasks)) {
            QJsonObject object = taskObject(task);
            if (task.snapshot.state == TaskState::Running && live.contains(task.snapshot.id))
                object.insert(QStringLiteral("stack"),
                              QJsonDocument::fromJson(live.value(task.snapshot.id)).object());
            out += jsonLine(object);
        }
        printOut(out);
        return ClusterCommand::Success;
    }
    if (tasks.isEmpty()) {
        printOut("no tasks\n");
        return ClusterCommand::Success;
    }
    QList<QJsonObject> objects;
    for (const auto &task : std::as_const(tasks)) {
        QJsonObject object = taskObject(task);
        if (withStacks && task.snapshot.state == TaskState::Running)
            object.insert(QStringLiteral("stack"),
                          QJsonDocument::fromJson(live.value(task.snapshot.id)).object());
        objects.append(object);
    }
    printText(TaskTable::text(objects, withStacks));
    return ClusterCommand::Success;
}

int wait(const QStringList &arguments)
{
    CommandLine command(QStringLiteral("wait"),
                        QStringLiteral("Waits until the tasks have ended, printing each as it "
                                       "ends.\nExit status: 0 all succeeded; 1 one did not, an "
                                       "id is unknown or Redis failed; 2 usage error."));
    command.addJson();
    command.parser().addPositionalArgument(QStringLiteral("ID"), QStringLiteral("Task ids."),
                                           QStringLiteral("ID..."));
    if (const int status = command.parse(arguments); status >= 0)
        return status;
    int status = 0;
    const std::optional<QList<TaskId>> given = parseIds(command, &status);
    if (!given)
        return status;
    QList<TaskId> waiting = *given;
    Session session(command);
    if (!session.open())
        return ClusterCommand::Failure;
    bool allSucceeded = true;
    while (!waiting.isEmpty()) {
        QList<ClusterProtocol::Task> tasks;
        if (!session.call([&](auto done) {
                session.protocol().tasks(waiting, [&tasks, done](const auto &got, const auto &e) {
                    tasks = got;
                    done(e);
                });
            }))
            return ClusterCommand::Failure;
        QSet<TaskId> known;
        for (const auto &task : std::as_const(tasks)) {
            const TaskSnapshot &s = task.snapshot;
            known.insert(s.id);
            if (!isFinished(s.state))
                continue;
            waiting.removeAll(s.id);
            allSucceeded = allSucceeded && s.state == TaskState::Succeeded;
            if (command.json()) {
                printOut(jsonLine(taskObject(task)));
                continue;
            }
            QString line =
                QStringLiteral("#%1 %2: %3").arg(s.id).arg(s.name, taskStateName(s.state));
            if (s.attempt > 1)
                line += QStringLiteral(" after %1 attempts").arg(s.attempt);
            if (!task.worker.isEmpty())
                line += QStringLiteral(" on %1").arg(task.worker);
            if (s.state == TaskState::Succeeded && !s.result.isUndefined() && !s.result.isNull())
                line += QStringLiteral(" => %1").arg(
                    TaskTable::oneLine(TaskTable::resultText(s.result), 200));
            else if (s.state != TaskState::Succeeded && !s.error.isEmpty())
                line += QStringLiteral(": %1").arg(s.error);
            printText(line + u'\n');
        }
        for (TaskId id : QList<TaskId>(waiting)) {
            if (!known.contains(id)) {
                printErr(QStringLiteral("taskdeck: no task %1").arg(id));
                waiting.removeAll(id);
                allSucceeded = false;
            }
        }
        if (!waiting.isEmpty())
            await([](std::function<void()> done) { QTimer::singleShot(100, done); }, 1000);
    }
    return allSucceeded ? ClusterCommand::Success : ClusterCommand::Failure;
}

// ---- cancel, limits, workers ------------------------------------------------------------

int cancel(const QStringList &arguments)
{
    CommandLine command(QStringLiteral("cancel"),
                        QStringLiteral("Cancels tasks wherever they run.\nExit status: 0 every "
                                       "id was known; 1 an id is unknown or Redis failed; 2 "
                                       "usage error."));
    command.addJson();
    command.parser().addPositionalArgument(QStringLiteral("ID"), QStringLiteral("Task ids."),
                                           QStringLiteral("ID..."));
    if (const int status = command.parse(arguments); status >= 0)
        return status;
    int status = 0;
    const std::optional<QList<TaskId>> given = parseIds(command, &status);
    if (!given)
        return status;
    const QList<TaskId> ids = *given;
    Session session(command);
    if (!session.open())
        return ClusterCommand::Failure;
    QStringList states;
    if (!session.call([&](auto done) {
            session.protocol().cancel(ids, [&states, done](const QStringList &got, const auto &e) {
                states = got;
                done(e);
            });
        }))
        return ClusterCommand::Failure;
    bool unknown = false;
    QByteArray out;
    QJsonArray cancelled, finished, missing;
    for (qsizetype i = 0; i < ids.size() && i < states.size(); ++i) {
        const QString &state = states[i];
        if (state.isEmpty()) {
            unknown = true;
            missing.append(qint64(ids[i]));
            printErr(QStringLiteral("taskdeck: no task %1").arg(ids[i]));
        } else if (state == u"cancelled" || state == u"running") {
            cancelled.append(qint64(ids[i]));
            out += QStringLiteral("cancelled task %1\n").arg(ids[i]).toUtf8();
        } else {
            finished.append(QJsonObject{{QStringLiteral("id"), qint64(ids[i])},
                                        {QStringLiteral("state"), state}});
            out +=
                QStringLiteral("task %1 had already ended (%2)\n").arg(ids[i]).arg(state).toUtf8();
        }
    }
    if (command.json())
        out = jsonLine(QJsonObject{{QStringLiteral("ok"), !unknown},
                                   {QStringLiteral("cancelled"), cancelled},
                                   {QStringLiteral("finished"), finished},
                                   {QStringLiteral("unknown"), missing}});
    printOut(out);
    return unknown ? ClusterCommand::Failure : ClusterCommand::Success;
}

int limits(const QStringList &arguments)
{
    CommandLine command(QStringLiteral("limits"),
                        QStringLiteral("Sets the cluster-wide limits; with no option prints "
                                       "them.\nExit status: 0 done; 1 Redis failed; 2 usage "
                                       "error."));
    command.addJson();
    const QCommandLineOption maxOpt({QStringLiteral("j"), QStringLiteral("max-concurrency")},
                                    QStringLiteral("Tasks running at once on all workers "
                                                   "together (0: no limit)."),
                                    QStringLiteral("N"));
    const QCommandLineOption groupOpt(QStringLiteral("group"),
                                      QStringLiteral("Limit of one group (0: none; repeatable)."),
                                      QStringLiteral("NAME=LIMIT"));
    const QCommandLineOption weightOpt(QStringLiteral("weight"),
                                       QStringLiteral("Share of one group (repeatable)."),
                                       QStringLiteral("NAME=WEIGHT"));
    const QCommandLineOption pauseOpt(QStringLiteral("pause"),
                                      QStringLiteral("Pause the cluster, or with --group-less "
                                                     "argument GROUP one group: --pause=GROUP."));
    const QCommandLineOption resumeOpt(QStringLiteral("resume"),
                                       QStringLiteral("Resume the cluster, or --resume=GROUP."));
    command.parser().addOptions({maxOpt, groupOpt, weightOpt, pauseOpt, resumeOpt});
    command.parser().addPositionalArgument(QStringLiteral("GROUP"),
                                           QStringLiteral("With --pause or --resume: the "
                                                          "groups (none: the whole cluster)."),
                                           QStringLiteral("[GROUP...]"));
    if (const int status = command.parse(arguments); status >= 0)
        return status;
    QCommandLineParser &p = command.parser();
    QList<QByteArray> verbs;
    if (p.isSet(maxOpt)) {
        const auto n = intAtLeast(p.value(maxOpt), 0);
        if (!n)
            return command.usageError(QStringLiteral("--max-concurrency needs a number >= 0"));
        verbs << "max" << QByteArray::number(*n);
    }
    for (const auto &[opt, verb] :
         {std::pair{&groupOpt, "group"}, std::pair{&weightOpt, "weight"}}) {
        for (const QString &value : p.values(*opt)) {
            const qsizetype eq = value.lastIndexOf(u'=');
            const auto n =
                eq > 0 ? intAtLeast(value.mid(eq + 1), verb == QByteArray("weight")) : std::nullopt;
            if (!n)
                return command.usageError(QStringLiteral("--%1 needs NAME=N, not \"%2\"")
                                              .arg(QLatin1String(verb), value));
            verbs << verb << (value.left(eq) + u'=' + QString::number(*n)).toUtf8();
        }
    }
    const QStringList groups = p.positionalArguments();
    if (!groups.isEmpty() && !p.isSet(pauseOpt) && !p.isSet(resumeOpt))
        return command.usageError(QStringLiteral("groups are named with --pause or --resume"));
    if (p.isSet(pauseOpt) && p.isSet(resumeOpt))
        return command.usageError(QStringLiteral("--pause and --resume together"));
    for (const QCommandLineOption *opt : {&pauseOpt, &resumeOpt}) {
        if (!p.isSet(*opt))
            continue;
        const QByteArray verb = opt == &pauseOpt ? "pause" : "resume";
        if (groups.isEmpty())
            verbs << verb << QByteArray();
        for (const QString &g : groups)
            verbs << verb << g.toUtf8();
    }
    Session session(command);
    if (!session.open())
        return ClusterCommand::Failure;
    ClusterProtocol::Limits limits;
    if (!session.call([&](auto done) {
            session.protocol().limits(verbs, [&limits, done](const auto &got, const auto &e) {
                limits = got;
                done(e);
            });
        }))
        return ClusterCommand::Failure;
    if (command.json()) {
        QJsonArray groupsJson;
        for (const auto &g : std::as_const(limits.groups))
            groupsJson.append(QJsonObject{{QStringLiteral("group"), g.group},
                                          {QStringLiteral("limit"), g.limit},
                                          {QStringLiteral("running"), g.running},
                                          {QStringLiteral("pending"), g.pending},
                                          {QStringLiteral("paused"), g.paused}});
        printOut(jsonLine(QJsonObject{{QStringLiteral("max_concurrency"), limits.max},
                                      {QStringLiteral("paused"), limits.paused},
                                      {QStringLiteral("groups"), groupsJson}}));
        return ClusterCommand::Success;
    }
    QString out = QStringLiteral("max-concurrency %1%2\n")
                      .arg(limits.max > 0 ? QString::number(limits.max) : QStringLiteral("none"),
                           limits.paused ? QStringLiteral(" (paused)") : QString());
    for (const auto &g : std::as_const(limits.groups))
        out += QStringLiteral("group %1: limit %2, %3 running, %4 ready%5\n")
                   .arg(g.group, g.limit > 0 ? QString::number(g.limit) : QStringLiteral("none"))
                   .arg(g.running)
                   .arg(g.pending)
                   .arg(g.paused ? QStringLiteral(" (paused)") : QString());
    printText(out);
    return ClusterCommand::Success;
}

int workers(const QStringList &arguments)
{
    CommandLine command(QStringLiteral("workers"),
                        QStringLiteral("Lists the cluster's workers.\nExit status: 0 listed; 1 "
                                       "Redis failed; 2 usage error."));
    command.addJson();
    if (const int status = command.parse(arguments); status >= 0)
        return status;
    Session session(command);
    if (!session.open())
        return ClusterCommand::Failure;
    QList<ClusterProtocol::Worker> workers;
    if (!session.call([&](auto done) {
            session.protocol().workers([&workers, done](const auto &got, const auto &e) {
                workers = got;
                done(e);
            });
        }))
        return ClusterCommand::Failure;
    std::sort(workers.begin(), workers.end(),
              [](const auto &a, const auto &b) { return a.name < b.name; });
    QString out;
    for (const auto &w : std::as_const(workers)) {
        if (command.json()) {
            out += QString::fromUtf8(jsonLine(QJsonObject{
                {QStringLiteral("name"), w.name},
                {QStringLiteral("host"), w.host},
                {QStringLiteral("pid"), w.pid},
                {QStringLiteral("running"), w.running},
                {QStringLiteral("capacity"), w.capacity},
                {QStringLiteral("heartbeat_age_s"), double(w.heartbeatAgeMs) / 1000.0},
                {QStringLiteral("alive"), w.alive},
            }));
        } else {
            out += QStringLiteral("%1  %2  pid %3  %4/%5 running  heartbeat %6s ago  %7\n")
                       .arg(w.name, w.host)
                       .arg(w.pid)
                       .arg(w.running)
                       .arg(w.capacity)
                       .arg(double(w.heartbeatAgeMs) / 1000.0, 0, 'f', 1)
                       .arg(w.alive ? QStringLiteral("alive") : QStringLiteral("lost"));
        }
    }
    if (command.json())
        printOut(out.toUtf8());
    else
        printText(out.isEmpty() ? QStringLiteral("no workers\n") : out);
    return ClusterCommand::Success;
}

// ---- worker -----------------------------------------------------------------------------

int signalPipe[2] = {-1, -1};

void onStopSignal(int)
{
    const char byte = 1;
    [[maybe_unused]] const ssize_t written = ::write(signalPipe[1], &byte, 1);
}

class ClusterWorker;

// The local engine's journal: told every published batch on the engine thread, it hands
// a copy to the worker on the main thread.
class WorkerJournal final : public EngineJournal
{
public:
    explicit WorkerJournal(ClusterWorker *worker)
        : m_worker(worker)
    {
    }
    void submitted(const QList<TaskId> &, const QList<std::shared_ptr<const TaskSpec>> &,
                   qint64) override
    {
    }
    void published(const EngineUpdate &update) override;
    // Live stacks go to Redis only while someone asks (ps --stacks), not every second.
    void sampled(const QList<StackSample> &) override {}
    bool wantsSamples() const override { return false; }

private:
    ClusterWorker *m_worker;
};

// `taskdeck worker`: claims tasks for its free slots, runs them in a local engine,
// renews its lease every second (whose reply carries the cancels for it), reports ends in
// batches and runs the reaper's turn. Lives on the main thread; its engine on its own.
class ClusterWorker : public QObject
{
public:
    struct Options
    {
        RedisUrl url;
        QString ns;
        QString name;
        int capacity = 16;
        qint64 leaseMs = 5000;
        qint64 drainMs = 30000;
    };

    explicit ClusterWorker(const Options &options)
        : m_options(options)
        , m_journal(this)
    {
        RedisClient::Options client;
        client.url = options.url;
        client.clientName = QStringLiteral("taskdeck-worker-") + options.name;
        client.commandTimeoutMs = int(qBound(qint64(1000), options.leaseMs, qint64(5000)));
        client.connectTimeoutMs = 5000;
        client.maxBackoffMs = 2000;
        m_client = std::make_unique<RedisClient>(client);
        m_protocol = std::make_unique<ClusterProtocol>(m_client.get(), options.ns);
        // A connection of its own that blocks on the stream submit adds to.
        client.clientName = QStringLiteral("taskdeck-wake-") + options.name;
        m_waker = std::make_unique<RedisClient>(client);
        Engine::Options engine;
        engine.maxRunning = options.capacity;
        // Ends reach Redis (and free slots get claimed) per published batch: publish as
        // soon as the engine's event loop is idle (the timer is single-shot, started by the
        // first change). cluster-trivial: 5 ms -> 0 ms took 2.8 s to 1.0-1.7 s.
        engine.publishIntervalMs = 0;
        m_engine = std::make_unique<Engine>(engine);
        m_engine->setJournal(&m_journal);
        m_clock.start();
    }

    ~ClusterWorker() override
    {
        m_engine->setJournal(nullptr);
        m_engine.reset();
    }

    // Starts; the process exits through QCoreApplication::exit with the status.
    void start()
    {
        connect(m_client.get(), &RedisClient::ready, this, [this] {
            if (!m_connectedOnce)
                printErr(QStringLiteral("taskdeck worker %1: connected to %2, %3 slots")
                             .arg(m_options.name, m_options.url.display())
                             .arg(m_options.capacity));
            else
                printErr(QStringLiteral("taskdeck worker %1: Redis is back").arg(m_options.name));
            m_connectedOnce = true;
            heartbeat();
        });
        connect(m_client.get(), &RedisClient::disconnected, this, [this](const QString &why) {
            if (!m_connectedOnce) {
                printErr(QStringLiteral("taskdeck: %1").arg(why)); // it names the server
                QCoreApplication::exit(ClusterCommand::Failure);
                return;
            }
            printErr(QStringLiteral("taskdeck worker %1: lost Redis (%2); reconnecting")
                         .arg(m_options.name, why));
        });
        connect(m_client.get(), &RedisClient::fatalError, this, [](const QString &why) {
            printErr(QStringLiteral("taskdeck: %1").arg(why)); // it names the server
            QCoreApplication::exit(ClusterCommand::Failure);
        });
        QTimer::singleShot(ConnectLimitMs, this, [this] {
            if (!m_connectedOnce) {
                printErr(QStringLiteral("taskdeck: cannot use Redis at %1: no answer within "
                                        "%2 s")
                             .arg(m_options.url.display())
                             .arg(ConnectLimitMs / 1000));
                QCoreApplication::exit(ClusterCommand::Failure);
            }
        });
        auto *beat = new QTimer(this);
        connect(beat, &QTimer::timeout, this, [this] {
            heartbeat();
            reap();
        });
        // Every second, or a third of a shorter lease, so that one late beat never loses it.
        beat->start(int(qMin(qint64(1000), m_options.leaseMs / 3)));
        // What lets a task start wakes the worker at once through the stream "wake"
        // (waitForWork): submits, hand-backs, tasks the reaper gave back, freed slots, limit
        // changes; a delayed retry by the time claim gave (m_due). The slow poll is a safety
        // net only, so an idle worker costs Redis a few commands a second.
        m_poll = new QTimer(this);
        connect(m_poll, &QTimer::timeout, this, &ClusterWorker::claim);
        m_poll->start(PollMs);
        m_due = new QTimer(this);
        m_due->setSingleShot(true);
        connect(m_due, &QTimer::timeout, this, &ClusterWorker::claim);
        connect(m_waker.get(), &RedisClient::ready, this, &ClusterWorker::waitForWork);
        m_client->open();
        m_waker->open();
    }

    // SIGINT/SIGTERM: claims no more, lets running tasks end within the drain period,
    // then hands the rest back (no attempt counted) and exits once all are reported.
    void drain()
    {
        if (m_draining) {
            QCoreApplication::exit(ClusterCommand::Failure); // a second signal: at once
            return;
        }
        m_draining = true;
        m_poll->stop();
        m_due->stop();
        printErr(QStringLiteral("taskdeck worker %1: draining %2 task(s)")
                     .arg(m_options.name)
                     .arg(m_held.size()));
        QTimer::singleShot(m_options.drainMs, this, [this] {
            for (auto it = m_held.begin(); it != m_held.end(); ++it)
                it->handBack = true;
            m_engine->cancel(m_held.keys());
        });
        // Whatever happens to Redis, the worker ends: after the drain, the cleanup grace
        // and the time to report.
        QTimer::singleShot(m_options.drainMs + 15000, this,
                           [] { QCoreApplication::exit(ClusterCommand::Failure); });
        maybeQuit();
    }

    // On the main thread: what the engine published.
    void onUpdate(const EngineUpdate &update)
    {
        for (const LogLines &lines : update.logs) {
            auto it = m_held.find(lines.id);
            if (it == m_held.end())
                continue;
            it->log += lines.lines;
            it->logCount += lines.lines.size();
            if (it->log.size() > 200)
                it->log = it->log.mid(it->log.size() - 200);
        }
        bool ended = false;
        for (const TaskSnapshot &s : update.changed) {
            if (s.state == TaskState::Running && s.progress >= 0) {
                auto it = m_held.find(s.id);
                if (it != m_held.end() && (it->progress != s.progress || it->status != s.status)) {
                    it->progress = s.progress; // sent with the next heartbeat
                    it->status = s.status;
                    it->progressSent = false;
                }
            }
            if (!isFinished(s.state))
                continue;
            const auto it = m_held.constFind(s.id);
            if (it == m_held.cend())
                continue;
            ClusterProtocol::Ending end;
            end.id = it->id;
            end.attempt = it->attempt;
            end.log = it->log;
            switch (s.state) {
            case TaskState::Succeeded:
                end.state = QStringLiteral("succeeded");
                break;
            case TaskState::TimedOut:
                end.state = QStringLiteral("timed_out");
                break;
            case TaskState::Cancelled:
            case TaskState::Interrupted:
                end.state = it->handBack ? QStringLiteral("handback") : QStringLiteral("cancelled");
                break;
            default:
                end.state = QStringLiteral("failed");
            }
            if (!s.result.isUndefined() && !s.result.isNull()) {
                const QByteArray json =
                    QJsonDocument(QJsonArray{s.result}).toJson(QJsonDocument::Compact);
                end.result = json.mid(1, json.size() - 2);
            }
            end.error = s.error;
            if (s.stack)
                end.stack = QJsonDocument(TaskJson::stack(*s.stack)).toJson(QJsonDocument::Compact);
            if (!it->dir.isEmpty())
                QDir(it->dir).removeRecursively();
            m_held.erase(it);
            m_endings.append(end);
            ended = true;
        }
        if (ended) {
            report();
            claim();
        }
    }

private:
    struct Held
    {
        TaskId id = 0; // in the cluster
        int attempt = 0;
        QString dir; // a process task's private copy of its script
        QStringList log;
        qint64 logCount = 0; // lines ever logged (log keeps the last 200)
        bool handBack = false;
        double progress = -1; // as the task last set it, -1 never
        QString status;
        bool progressSent = true;
    };

    void heartbeat()
    {
        if (m_beating || !m_client->isReady()) {
            loseExpiredLease();
            return;
        }
        ClusterProtocol::Beat beat;
        beat.worker = m_options.name;
        beat.leaseMs = m_options.leaseMs;
        beat.host = QHostInfo::localHostName();
        beat.pid = QCoreApplication::applicationPid();
        beat.capacity = m_options.capacity;
        QList<TaskId> progressed; // local ids, in the order of beat.progress
        for (auto it = m_held.cbegin(); it != m_held.cend(); ++it) {
            beat.held.append({it->id, it->attempt});
            if (!it->progressSent) {
                beat.progress.append({it->id, it->attempt, it->progress, it->status});
                progressed.append(it.key());
            }
        }
        const QList<ClusterProtocol::Beat::Progress> sent = beat.progress;
        m_beating = true;
        const qint64 sentAt = m_clock.elapsed();
        m_protocol->heartbeat(beat, [this, sentAt, progressed, sent](const QList<TaskId> &cancels,
                                                                     bool stacksWanted,
                                                                     const QString &error) {
            m_beating = false;
            if (!error.isEmpty()) {
                // Said once per kind of failure (a refused lease repeats every second);
                // a lost connection is said by the client's disconnected().
                if (error != m_lastBeatError && !error.startsWith(QStringLiteral("DISCONNECTED")))
                    printErr(QStringLiteral("taskdeck worker %1: heartbeat refused: %2")
                                 .arg(m_options.name, error));
                m_lastBeatError = error;
                loseExpiredLease();
                return;
            }
            if (!m_lastBeatError.isEmpty())
                printErr(QStringLiteral("taskdeck worker %1: heartbeat accepted again")
                             .arg(m_options.name));
            m_lastBeatError.clear();
            for (qsizetype i = 0; i < progressed.size(); ++i) { // unless it changed since
                auto it = m_held.find(progressed[i]);
                if (it != m_held.end() && it->progress == sent[i].fraction &&
                    it->status == sent[i].status)
                    it->progressSent = true;
            }
            // The lease runs from when the beat was sent, not when its answer
            // came.
            m_leaseUntil = sentAt + m_options.leaseMs;
            QList<TaskId> local;
            for (auto it = m_held.cbegin(); it != m_held.cend(); ++it)
                if (cancels.contains(it->id))
                    local.append(it.key());
            if (!local.isEmpty())
                m_engine->cancel(local);
            if (stacksWanted)
                putStacks();
            claim();
        });
    }

    // The live stacks of what this worker runs, for ps --stacks (asked through Redis).
    void putStacks()
    {
        const QList<TaskId> local = m_held.keys();
        const auto stacks = m_engine->liveStacks(local);
        QList<std::pair<TaskId, QByteArray>> out;
        for (qsizetype i = 0; i < local.size() && i < stacks.size(); ++i)
            if (stacks[i])
                out.append(
                    {m_held.value(local[i]).id,
                     QJsonDocument(TaskJson::stack(*stacks[i])).toJson(QJsonDocument::Compact)});
        m_protocol->putStacks(out);
        putWatchedLogs();
    }

    // The log tails of the tasks it runs that a dashboard watches (the set "watched"),
    // with how many lines each has logged so far: {"n": N, "lines": [...]} in the hash
    // "logs", kept a few seconds. Asked only while someone wants stacks.
    void putWatchedLogs()
    {
        if (m_held.isEmpty())
            return;
        const QByteArray prefix = m_protocol->prefix();
        m_client->command({"SMEMBERS", prefix + "watched"}, [this, prefix](const RedisReply &r) {
            QSet<TaskId> watched;
            for (const RedisReply &e : r.elements)
                watched.insert(e.string.toULongLong());
            QList<QByteArray> argv{"HSET", prefix + "logs"};
            for (const Held &held : std::as_const(m_held)) {
                if (!watched.contains(held.id))
                    continue;
                const QJsonObject entry{
                    {QStringLiteral("n"), double(held.logCount)},
                    {QStringLiteral("lines"), QJsonArray::fromStringList(held.log)}};
                argv << QByteArray::number(qint64(held.id))
                     << QJsonDocument(entry).toJson(QJsonDocument::Compact);
            }
            if (argv.size() == 2)
                return;
            m_client->command(argv);
            m_client->command({"PEXPIRE", prefix + "logs", "3000"});
        });
    }

    // A worker that could not renew its lease in time cancels what it holds: the cluster
    // may have given those tasks to another worker already.
    void loseExpiredLease()
    {
        if (m_held.isEmpty() || m_clock.elapsed() < m_leaseUntil)
            return;
        QList<TaskId> local;
        for (auto it = m_held.begin(); it != m_held.end(); ++it) {
            if (!it->handBack)
                local.append(it.key());
            it->handBack = true; // if the lease still holds after all, the task goes back
        }
        if (!local.isEmpty())
            m_engine->cancel(local);
    }

    void reap()
    {
        if (!m_client->isReady())
            return;
        m_protocol->reap(m_options.name.toUtf8(), 1000, [](int, const QString &) {});
    }

    // Blocks (XREAD BLOCK 0 on the second connection) until the next entry on the stream
    // "wake" (submit.lua, and complete.lua on a handback), then claims and blocks again.
    // After a reconnect it goes on from the last entry it read (the stream keeps one), so
    // a submit in between still wakes it.
    void waitForWork()
    {
        if (m_waiting || m_draining || !m_waker->isReady())
            return;
        m_waiting = true;
        m_waker->command(
            {"XREAD", "BLOCK", "0", "STREAMS", m_protocol->prefix() + "wake", m_wakeId},
            [this](const RedisReply &reply) {
                m_waiting = false;
                if (reply.isError())
                    return; // lost: ready() starts it again
                // [[stream, [[id, fields], ...]]]: the last id read.
                const RedisReply stream = reply.elements.value(0);
                const QList<RedisReply> entries = stream.elements.value(1).elements;
                if (!entries.isEmpty() && !entries.last().elements.isEmpty())
                    m_wakeId = entries.last().elements.first().string;
                claim();
                waitForWork();
            },
            0);
    }

    // Claims for every free slot; a call while one is under way claims again after it.
    void claim()
    {
        const int free = m_options.capacity - int(m_held.size());
        if (m_claiming) {
            m_claimAgain = true;
            return;
        }
        if (m_draining || free <= 0 || !m_client->isReady())
            return;
        m_claiming = true;
        m_claimAgain = false;
        m_protocol->claimWithDue(m_options.name, free,
                                 [this, free](const QList<ClusterProtocol::Claimed> &tasks,
                                              qint64 nextDueMs, const QString &error) {
                                     m_claiming = false;
                                     const bool again = m_claimAgain;
                                     m_claimAgain = false;
                                     if (!error.isEmpty()) {
                                         if (error.startsWith(u"LOST"))
                                             heartbeat();
                                         else if (!error.startsWith(u"DISCONNECTED"))
                                             printErr(
                                                 QStringLiteral("taskdeck worker %1: claim: %2")
                                                     .arg(m_options.name, error));
                                         return;
                                     }
                                     run(tasks);
                                     if (tasks.size() == free || again)
                                         QTimer::singleShot(0, this, &ClusterWorker::claim);
                                     else if (nextDueMs >= 0) // a retry's delay ends: claim it then
                                         m_due->start(int(qMin(nextDueMs + 1, qint64(PollMs))));
                                 });
    }

    // Starts claimed tasks in the local engine. A process task's script is written to a
    // private (0700) directory of this worker, removed after its run.
    void run(const QList<ClusterProtocol::Claimed> &tasks)
    {
        if (tasks.isEmpty())
            return;
        if (m_draining) { // claimed while a signal came: give them back unrun
            for (const auto &task : tasks)
                m_endings.append(
                    {task.id, task.attempt, QStringLiteral("handback"), {}, {}, {}, {}});
            report();
            return;
        }
        QList<TaskSpec> specs;
        QList<Held> held;
        for (const auto &task : tasks) {
            Held h;
            h.id = task.id;
            h.attempt = task.attempt;
            if (!task.spec) {
                m_endings.append({task.id,
                                  task.attempt,
                                  QStringLiteral("failed"),
                                  {},
                                  QStringLiteral("malformed task definition in Redis"),
                                  {},
                                  {}});
                continue;
            }
            TaskSpec spec = *task.spec;
            spec.retries = 0; // the cluster counts retries
            if (spec.kind == ScriptKind::Process && !writeScript(task, spec, &h.dir)) {
                m_endings.append({task.id,
                                  task.attempt,
                                  QStringLiteral("failed"),
                                  {},
                                  QStringLiteral("%1: cannot write the script on worker %2")
                                      .arg(spec.file, m_options.name),
                                  {},
                                  {}});
                continue;
            }
            specs.append(spec);
            held.append(h);
        }
        // Restored as pending with the attempts before this one, so that the engine starts
        // each with the cluster's attempt (task.attempt inside the task).
        QList<RestoredTask> restored;
        for (qsizetype i = 0; i < specs.size(); ++i) {
            RestoredTask task;
            task.spec = std::make_shared<const TaskSpec>(specs[i]);
            TaskSnapshot &s = task.snapshot;
            s.id = ++m_lastLocalId;
            s.state = TaskState::Pending;
            s.name = specs[i].name;
            s.file = specs[i].file;
            s.kind = specs[i].kind;
            s.group = specs[i].group;
            s.priority = specs[i].priority;
            s.attempt = qMax(held[i].attempt - 1, 0);
            s.submittedAtMs = QDateTime::currentMSecsSinceEpoch();
            restored.append(task);
            m_held.insert(s.id, held[i]);
        }
        m_engine->restore(restored, m_lastLocalId);
        report();
    }

    bool writeScript(const ClusterProtocol::Claimed &task, TaskSpec &spec, QString *dir)
    {
        if (!m_scripts) {
            m_scripts = std::make_unique<QTemporaryDir>(); // 0700
            if (!m_scripts->isValid())
                return false;
        }
        const QString path =
            m_scripts->filePath(QStringLiteral("%1-%2").arg(task.id).arg(task.attempt));
        if (!QDir().mkpath(path))
            return false;
        QFile::setPermissions(path, QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner);
        const QString file = QDir(path).filePath(QFileInfo(spec.file).fileName());
        QFile out(file);
        if (!out.open(QIODevice::WriteOnly) || out.write(spec.source) != spec.source.size())
            return false;
        out.close();
        out.setPermissions(QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner);
        for (QString &part : spec.command)
            if (part == spec.file)
                part = file;
        spec.file = file;
        spec.source.clear();
        *dir = path;
        return true;
    }

    // Sends the ends gathered so far in one call; one call at a time, the rest next.
    void report()
    {
        if (m_reporting || m_endings.isEmpty() || !m_client->isReady()) {
            if (!m_endings.isEmpty() && !m_reporting)
                QTimer::singleShot(200, this, &ClusterWorker::report);
            maybeQuit();
            return;
        }
        const QList<ClusterProtocol::Ending> batch = m_endings;
        m_endings.clear();
        m_reporting = true;
        m_protocol->complete(
            m_options.name, batch,
            [this, batch](const QList<TaskId> &refused, const QString &error) {
                m_reporting = false;
                if (!error.isEmpty() && error.startsWith(u"DISCONNECTED")) {
                    m_endings = batch + m_endings; // again once back
                    QTimer::singleShot(200, this, &ClusterWorker::report);
                    return;
                }
                if (!error.isEmpty())
                    printErr(QStringLiteral("taskdeck worker %1: %2").arg(m_options.name, error));
                for (TaskId id : refused)
                    printErr(QStringLiteral("taskdeck worker %1: the end of "
                                            "task %2 was refused (its lease "
                                            "had expired)")
                                 .arg(m_options.name)
                                 .arg(id));
                report();
                claim();
            });
    }

    void maybeQuit()
    {
        if (m_draining && m_held.isEmpty() && m_endings.isEmpty() && !m_reporting)
            QCoreApplication::exit(ClusterCommand::Success);
    }

    Options m_options;
    WorkerJournal m_journal;
    std::unique_ptr<RedisClient> m_client;
    std::unique_ptr<ClusterProtocol> m_protocol;
    std::unique_ptr<RedisClient> m_waker; // blocked in XREAD on the stream "wake"
    QByteArray m_wakeId = "$";
    std::unique_ptr<Engine> m_engine;
    std::unique_ptr<QTemporaryDir> m_scripts;
    QHash<TaskId, Held> m_held; // by local engine id
    TaskId m_lastLocalId = 0;   // the worker gives its engine's ids (restore())
    QList<ClusterProtocol::Ending> m_endings;
    QTimer *m_poll = nullptr;
    QTimer *m_due = nullptr; // when claim said the next delayed retry is due
    QElapsedTimer m_clock;
    qint64 m_leaseUntil = 0; // m_clock time: the lease as last renewed
    bool m_connectedOnce = false;
    bool m_beating = false;
    QString m_lastBeatError; // the last heartbeat's error, said once
    bool m_claiming = false;
    bool m_claimAgain = false; // claim() came while a claim was under way
    bool m_waiting = false;    // an XREAD BLOCK is under way on m_waker
    bool m_reporting = false;
    bool m_draining = false;
};

void WorkerJournal::published(const EngineUpdate &update)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, update] { worker->onUpdate(update); }, Qt::QueuedConnection);
}

int worker(const QStringList &arguments)
{
    CommandLine command(QStringLiteral("worker"),
                        QStringLiteral("Runs the cluster's tasks on this machine until SIGINT or "
                                       "SIGTERM.\nExit status: 0 drained; 1 Redis failed; 2 "
                                       "usage error."));
    const QCommandLineOption capacityOpt({QStringLiteral("j"), QStringLiteral("max-concurrency")},
                                         QStringLiteral("Tasks running at once (default 16)."),
                                         QStringLiteral("N"), QStringLiteral("16"));
    const QCommandLineOption nameOpt(QStringLiteral("name"),
                                     QStringLiteral("This worker's name (default HOST-PID)."),
                                     QStringLiteral("NAME"));
    const QCommandLineOption leaseOpt(QStringLiteral("lease"),
                                      QStringLiteral("How long a task stays this worker's "
                                                     "without a heartbeat (default 5s)."),
                                      QStringLiteral("DUR"), QStringLiteral("5s"));
    const QCommandLineOption drainOpt(QStringLiteral("drain"),
                                      QStringLiteral("On SIGINT/SIGTERM, how long running tasks "
                                                     "may go on (default 30s)."),
                                      QStringLiteral("DUR"), QStringLiteral("30s"));
    command.parser().addOptions({capacityOpt, nameOpt, leaseOpt, drainOpt});
    // "-j4" as "-j 4", as `run` takes it.
    QStringList args;
    for (const QString &a : arguments) {
        if (a.startsWith(QStringLiteral("-j")) && a.size() > 2 && a[2].isDigit())
            args << QStringLiteral("-j") << a.mid(2);
        else
            args << a;
    }
    if (const int status = command.parse(args); status >= 0)
        return status;
    ClusterWorker::Options options;
    options.url = command.url();
    options.ns = command.ns();
    const auto capacity = intAtLeast(command.parser().value(capacityOpt), 1);
    if (!capacity)
        return command.usageError(QStringLiteral("-j needs a number >= 1"));
    options.capacity = *capacity;
    const auto lease = ScriptLoader::parseDuration(command.parser().value(leaseOpt));
    if (!lease || *lease < 500)
        return command.usageError(QStringLiteral("--lease needs a duration of at least 500ms"));
    options.leaseMs = *lease;
    const auto drain = ScriptLoader::parseDuration(command.parser().value(drainOpt));
    if (!drain)
        return command.usageError(QStringLiteral("--drain needs a duration such as 30s"));
    options.drainMs = *drain;
    options.name = command.parser().isSet(nameOpt) ? command.parser().value(nameOpt)
                                                   : QStringLiteral("%1-%2")
                                                         .arg(QHostInfo::localHostName())
                                                         .arg(QCoreApplication::applicationPid());
    if (options.name.isEmpty())
        return command.usageError(QStringLiteral("--name needs a name"));

    ClusterWorker worker(options);
    if (::pipe2(signalPipe, O_CLOEXEC | O_NONBLOCK) == 0) {
        auto *notifier = new QSocketNotifier(signalPipe[0], QSocketNotifier::Read, &worker);
        QObject::connect(notifier, &QSocketNotifier::activated, &worker, [&worker] {
            char bytes[16];
            while (::read(signalPipe[0], bytes, sizeof bytes) > 0) {
            }
            worker.drain();
        });
        struct sigaction action = {};
        action.sa_handler = onStopSignal;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_RESTART;
        sigaction(SIGTERM, &action, nullptr);
        sigaction(SIGINT, &action, nullptr);
    }
    worker.start();
    return QCoreApplication::exec();
}

} // namespace

bool ClusterCommand::isCommand(const QString &command, const QStringList &arguments)
{
    if (command == u"worker" || command == u"wait" || command == u"limits" || command == u"workers")
        return true;
    if (command != u"submit" && command != u"ps" && command != u"cancel")
        return false;
    if (!qEnvironmentVariable("TASKDECK_REDIS").isEmpty())
        return true;
    for (const QString &a : arguments)
        if (a == u"--redis" || a.startsWith(QStringLiteral("--redis=")))
            return true;
    return false;
}

int ClusterCommand::run(const QString &command, const QStringList &arguments)
{
    if (command == u"worker")
        return worker(arguments);
    if (command == u"submit")
        return submit(arguments);
    if (command == u"ps")
        return ps(arguments);
    if (command == u"cancel")
        return cancel(arguments);
    if (command == u"wait")
        return wait(arguments);
    if (command == u"limits")
        return limits(arguments);
    if (command == u"workers")
        return workers(arguments);
    printErr(QStringLiteral("taskdeck: unknown command \"%1\"").arg(command));
    return UsageError;
}
