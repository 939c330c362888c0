// Taskdeck's entry point: `taskdeck run ...` runs headless; `taskdeck submit|ps|cancel`
// ask the running dashboard; anything else opens the dashboard with the given files
// submitted, or hands them to the dashboard already running for the same data directory.
#include "cluster/redistasksource.h"
#include "clustercommand.h"
#include "clusterdashboard.h"
#include "console.h"
#include "engine.h"
#include "instancecommand.h"
#include "instanceservice.h"
#include "ipc/instanceclient.h"
#include "ipc/instanceserver.h"
#include "localtasksource.h"
#include "mainwindow.h"
#include "runcommand.h"
#include "store/taskstore.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QDir>
#include <QLockFile>
#include <QSocketNotifier>
#include <QThread>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace {

using Console::printErr;

void setApplicationNames()
{
    // The names decide QStandardPaths::AppDataLocation, hence the default data directory:
    // the same for every command.
    QCoreApplication::setApplicationName(QStringLiteral("taskdeck"));
    QCoreApplication::setOrganizationName(QStringLiteral("Taskdeck"));
    QCoreApplication::setApplicationVersion(QStringLiteral(TASKDECK_VERSION));
}

int signalPipe[2] = {-1, -1};

void onQuitSignal(int)
{
    const char byte = 1;
    [[maybe_unused]] const ssize_t written = ::write(signalPipe[1], &byte, 1);
}

// SIGTERM, SIGINT and SIGHUP call `quit` on the main thread (through a self-pipe), so
// that the engine and the store shut down as on a close of the window. A second signal
// while shutting down ends the process at once.
void quitOnSignals(QObject *context, std::function<void()> quit)
{
    if (::pipe2(signalPipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return;
    auto *notifier = new QSocketNotifier(signalPipe[0], QSocketNotifier::Read, context);
    QObject::connect(notifier, &QSocketNotifier::activated, context, [notifier, quit] {
        char bytes[16];
        while (::read(signalPipe[0], bytes, sizeof bytes) > 0) {
        }
        notifier->setEnabled(false);
        std::signal(SIGTERM, SIG_DFL);
        std::signal(SIGINT, SIG_DFL);
        std::signal(SIGHUP, SIG_DFL);
        quit();
    });
    struct sigaction action = {};
    action.sa_handler = onQuitSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGHUP, &action, nullptr);
}

enum class Startup { Primary, HandedOver, Failed };

// Decides who shows the dashboard for `dataDir`: hands `files` to a Taskdeck already
// running for it, or takes `lock` and becomes that Taskdeck. The lock settles a race of
// two starting at once; the loser waits (a few seconds) for the winner to answer.
Startup handOverOrLock(const QString &socketName, const QStringList &files, QLockFile &lock)
{
    const QDeadlineTimer deadline(10000);
    while (true) {
        InstanceClient client;
        if (!socketName.isEmpty() && client.connectTo(socketName, 1000)) {
            InstanceProtocol::Request request;
            request.command = InstanceProtocol::Command::Open;
            request.files = files;
            if (const auto reply = client.request(request)) {
                if (!reply->value(QStringLiteral("ok")).toBool()) {
                    printErr(QStringLiteral("taskdeck: the running Taskdeck refused: %1")
                                 .arg(reply->value(QStringLiteral("error")).toString()));
                    return Startup::Failed;
                }
                std::printf("%s\n",
                            qPrintable(files.isEmpty()
                                           ? QStringLiteral("taskdeck: raised the running Taskdeck")
                                           : QStringLiteral("taskdeck: handed %1 file(s) to the "
                                                            "running Taskdeck")
                                                 .arg(files.size())));
                // Files whose tasks are queued but not on disk: as `submit`, say so, exit 1.
                const QString warning = reply->value(QStringLiteral("warning")).toString();
                if (reply->value(QStringLiteral("queued")).toInt() > 0 && !warning.isEmpty()) {
                    printErr(QStringLiteral("taskdeck: NOT SAVED: %1; the tasks are queued and "
                                            "will run, but will be lost if Taskdeck stops "
                                            "before its store can write again")
                                 .arg(warning));
                    return Startup::Failed;
                }
                return Startup::HandedOver;
            }
        }
        if (lock.tryLock(0))
            return Startup::Primary;
        if (lock.error() != QLockFile::LockFailedError) {
            printErr(QStringLiteral("taskdeck: cannot create %1 (is the data directory "
                                    "usable?); not guarding against a second Taskdeck")
                         .arg(lock.fileName()));
            return Startup::Primary;
        }
        if (deadline.hasExpired()) {
            printErr(QStringLiteral("taskdeck: another Taskdeck holds %1 but does not answer "
                                    "on %2")
                         .arg(lock.fileName(), socketName));
            return Startup::Failed;
        }
        QThread::msleep(100); // the lock holder is starting up
    }
}

// Sets the limits and paused state the store kept on `engine`.
void applyLimits(Engine &engine, const EngineLimits &limits)
{
    engine.setMaxRunning(limits.maxRunning);
    for (auto it = limits.groupLimits.cbegin(); it != limits.groupLimits.cend(); ++it)
        engine.setGroupLimit(it.key(), it.value());
    for (const QString &group : limits.pausedGroups)
        engine.pauseGroup(group);
    if (limits.paused)
        engine.pause();
}

int runDashboard(QApplication &app)
{
    QCommandLineParser parser;
    const QCommandLineOption dataDirOpt(QStringLiteral("data-dir"),
                                        QStringLiteral("Where tasks are remembered."),
                                        QStringLiteral("DIR"));
    parser.addOption(dataDirOpt);
    // The dashboard on a cluster (issue 13).
    const QCommandLineOption redisOpt(QStringLiteral("redis"), QStringLiteral("A cluster's Redis."),
                                      QStringLiteral("URL"));
    const QCommandLineOption redisCaOpt(QStringLiteral("redis-ca"), QStringLiteral("CA file."),
                                        QStringLiteral("FILE"));
    const QCommandLineOption nsOpt(QStringLiteral("namespace"), QStringLiteral("Key prefix."),
                                   QStringLiteral("NAME"), QStringLiteral("taskdeck"));
    parser.addOptions({redisOpt, redisCaOpt, nsOpt});
    parser.addPositionalArgument(QStringLiteral("FILE"), QStringLiteral("Task scripts."),
                                 QStringLiteral("[FILE...]"));
    if (!parser.parse(app.arguments())) {
        printErr(QStringLiteral("taskdeck: %1").arg(parser.errorText()));
        printErr(QStringLiteral("Try 'taskdeck --help'."));
        return 2;
    }
    QString dataDir = parser.isSet(dataDirOpt) ? QDir(parser.value(dataDirOpt)).absolutePath()
                                               : TaskStore::defaultDataDir();
    QString clusterError;
    const auto cluster = ClusterDashboard::url(
        parser.isSet(redisOpt) ? parser.value(redisOpt) : qEnvironmentVariable("TASKDECK_REDIS"),
        parser.value(redisCaOpt), parser.value(nsOpt), &clusterError);
    if (!clusterError.isEmpty()) {
        printErr(QStringLiteral("taskdeck: %1").arg(clusterError));
        return 2;
    }
    if (cluster)
        dataDir = ClusterDashboard::dataDir(dataDir, parser.value(nsOpt));
    QStringList files;
    for (const QString &file : parser.positionalArguments())
        files.append(QDir::cleanPath(QDir::current().absoluteFilePath(file)));

    QString socketProblem;
    const QString socketName = InstanceProtocol::serverName(dataDir, &socketProblem);
    if (socketName.isEmpty())
        printErr(QStringLiteral("taskdeck: no single-instance socket: %1").arg(socketProblem));
    TaskStore::makeDataDir(dataDir);
    QLockFile lock(QDir(dataDir).filePath(QStringLiteral("taskdeck.lock")));
    lock.setStaleLockTime(0); // stale only when its process is gone, however old
    switch (handOverOrLock(socketName, files, lock)) {
    case Startup::HandedOver:
        return 0;
    case Startup::Failed:
        return 1;
    case Startup::Primary:
        break;
    }

    // The store outlives the engine, so that the engine's last batch (tasks cut short by
    // the shutdown) is recorded.
    TaskStore store;
    const TaskStore::OpenResult opened = store.open(dataDir);
    if (!opened.message.isEmpty())
        printErr(QStringLiteral("taskdeck: %1").arg(opened.message));
    Engine engine;
    TaskStore::Recovery recovery;
    std::unique_ptr<RedisTaskSource> clusterSource =
        cluster ? ClusterDashboard::makeSource(*cluster, parser.value(nsOpt)) : nullptr;
    if (clusterSource && store.isOpen()) {
        recovery = store.recover(); // its finished tasks: the cluster's history
        clusterSource->setStore(&store);
        clusterSource->addHistory(recovery.tasks);
    } else if (store.isOpen()) {
        recovery = store.recover();
        // The user's last decisions (kept by the store as they changed), before any task
        // comes back.
        if (recovery.limits)
            applyLimits(engine, *recovery.limits);
        // Paused before their tasks come back, so that none of them starts meanwhile.
        for (const QString &group : std::as_const(recovery.interruptedGroups))
            engine.pauseGroup(group);
        engine.restore(recovery.tasks, recovery.lastId);
        engine.setJournal(&store);
    }

    LocalTaskSource source(&engine);
    if (store.isOpen())
        source.setStore(&store);
    TaskSource *shown = clusterSource ? static_cast<TaskSource *>(clusterSource.get()) : &source;
    MainWindow window(shown);
    if (clusterSource) {
        ClusterDashboard::addToWindow(window, clusterSource.get());
        clusterSource->start();
    }
    // Limits from the store when it has them; the window's settings only stand in (never
    // for a cluster: its limits are Redis's).
    window.restoreSettings(!recovery.limits && !clusterSource);
    window.setConfirmQuit(true);
    window.show();
    if (!opened.message.isEmpty())
        window.showNotice(opened.message);
    if (!recovery.problem.isEmpty())
        window.showNotice(recovery.problem); // already on stderr, as the store warns
    // Their groups were paused above; the limits panel shows it, from the engine.
    if (!recovery.interruptedGroups.isEmpty())
        window.showLimits();
    if (recovery.interrupted > 0)
        window.showPausedGroupsNotice(
            QObject::tr("%n task(s) were running when Taskdeck last stopped and "
                        "are marked interrupted; their groups (%1) are paused: resume them in "
                        "Limits, or select the tasks and Re-run them.",
                        nullptr, recovery.interrupted)
                .arg(recovery.interruptedGroups.join(QStringLiteral(", "))),
            recovery.interruptedGroups);
    window.submitFiles(files);

    InstanceService service(shown, [&window](const QStringList &files) {
        const int queued = window.submitFiles(files);
        window.setWindowState((window.windowState() & ~Qt::WindowMinimized) | Qt::WindowActive);
        window.show();
        window.raise();
        window.activateWindow();
        return queued;
    });
    InstanceServer server(
        [&service](const InstanceProtocol::Request &request, InstanceServer::Reply reply) {
            service.handle(request, std::move(reply));
        });
    if (!socketName.isEmpty() && !server.listen(socketName))
        printErr(QStringLiteral("taskdeck: %1; `taskdeck submit` and the like cannot reach "
                                "this Taskdeck")
                     .arg(server.errorString()));

    quitOnSignals(&window, [&window] {
        window.setConfirmQuit(false); // a signal asks no one
        window.close();               // saves the layout, as a close by the user does
        QCoreApplication::quit();
    });
    const int status = app.exec();
    server.close();
    source.setStore(nullptr);
    if (clusterSource)
        clusterSource->setStore(nullptr);
    // The store stays the engine's journal until the engine is gone (declared after the
    // store, destroyed before it).
    return status;
}

} // namespace

int main(int argc, char *argv[])
{
    if (argc >= 2 && std::strcmp(argv[1], "run") == 0) {
        QCoreApplication app(argc, argv);
        setApplicationNames();
        RunCommand run;
        const int status = run.start(app.arguments().mid(2));
        if (status >= 0)
            return status;
        return run.leave(app.exec());
    }
    if (argc >= 2) {
        // With --redis or TASKDECK_REDIS, submit/ps/cancel go to the cluster (SPEC 8).
        QStringList arguments;
        for (int i = 2; i < argc; ++i)
            arguments.append(QString::fromLocal8Bit(argv[i]));
        const QString command = QString::fromLocal8Bit(argv[1]);
        if (ClusterCommand::isCommand(command, arguments)) {
            QCoreApplication app(argc, argv);
            setApplicationNames();
            return ClusterCommand::run(command, app.arguments().mid(2));
        }
    }
    if (argc >= 2 && InstanceCommand::isCommand(QString::fromLocal8Bit(argv[1]))) {
        QCoreApplication app(argc, argv);
        setApplicationNames();
        return InstanceCommand::run(QString::fromLocal8Bit(argv[1]), app.arguments().mid(2));
    }
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--version") == 0) {
            std::puts("taskdeck " TASKDECK_VERSION);
            return 0;
        }
        if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
            std::puts(
                "Usage: taskdeck [--data-dir DIR] [FILE...]  open the dashboard, FILEs submitted\n"
                "                                            (or handed to the one running)\n"
                "       taskdeck run [options] FILE...       run headless\n"
                "       taskdeck submit [options] FILE...    submit to the running dashboard\n"
                "       taskdeck ps [--stacks] [--json]      list its tasks\n"
                "       taskdeck cancel ID...                cancel its tasks\n"
                "       taskdeck worker|wait|limits|workers  a cluster through Redis (--redis URL\n"
                "                                            or TASKDECK_REDIS; then submit, ps\n"
                "                                            and cancel act on it too)\n"
                "       taskdeck --version\n"
                "Each command takes --help; submit, ps and cancel take --data-dir DIR to\n"
                "choose the dashboard by its data directory.");
            return 0;
        }
    }
    QApplication app(argc, argv);
    setApplicationNames();
    QApplication::setDesktopFileName(QStringLiteral("taskdeck"));
    return runDashboard(app);
}
