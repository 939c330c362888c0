#include "runcommand.h"

#include "console.h"
#include "scriptloader.h"
#include "submission.h"
#include "submitoptions.h"
#include "taskjson.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTimer>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <unistd.h>

namespace {

std::atomic<int> interruptSignals{0};

void onSignal(int)
{
    interruptSignals.fetch_add(1);
}

using Console::printErr;

using Console::printOut;

using Console::printText;

int usageError(const QString &message)
{
    printErr(QStringLiteral("taskdeck run: %1").arg(message));
    printErr(QStringLiteral("Try 'taskdeck run --help'."));
    return RunCommand::UsageError;
}

QString oneLine(QString text, int max = 200)
{
    text.replace(u'\n', QStringLiteral(" | "));
    return text.size() > max ? text.left(max) + QStringLiteral("…") : text;
}

// The parser reads single-dash words as long options (-max-concurrency), so "-j4" would be
// an unknown option "j4": split it into "-j" "4", as make and xargs users expect. Only
// before a "--", after which everything is a file.
QStringList splitAttachedJ(const QStringList &arguments)
{
    QStringList out;
    bool options = true;
    for (const QString &a : arguments) {
        if (a == u"--")
            options = false;
        if (options && a.size() > 2 && a.startsWith(u"-j") && a[2] != u'=')
            out << QStringLiteral("-j") << a.mid(2);
        else
            out << a;
    }
    return out;
}

} // namespace

int RunCommand::start(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Runs task scripts headless, under limits, until all have ended.\n"
                       "Exit status: 0 all succeeded; 1 a task did not succeed or a file "
                       "was rejected; 2 usage error."));
    parser.setSingleDashWordOptionMode(QCommandLineParser::ParseAsLongOptions);
    const QCommandLineOption maxOpt({QStringLiteral("j"), QStringLiteral("max-concurrency")},
                                    QStringLiteral("Run at most N tasks at once (default 16)."),
                                    QStringLiteral("N"));
    const QCommandLineOption groupOpt(QStringLiteral("group"),
                                      QStringLiteral("Run at most LIMIT tasks of group NAME at "
                                                     "once (repeatable)."),
                                      QStringLiteral("NAME=LIMIT"));
    const QCommandLineOption graceOpt(QStringLiteral("grace"),
                                      QStringLiteral("How long a cancelled task may clean up "
                                                     "before it is stopped (default 5s)."),
                                      QStringLiteral("DUR"));
    const QCommandLineOption jsonOpt(QStringLiteral("json"),
                                     QStringLiteral("Print one JSON object per line for each "
                                                    "task when it ends."));
    const QCommandLineOption helpOpt({QStringLiteral("h"), QStringLiteral("help")},
                                     QStringLiteral("Show this help."));
    const QCommandLineOption versionOpt(QStringLiteral("version"),
                                        QStringLiteral("Show the version."));
    SubmitOptions submitOptions;
    parser.addOptions({maxOpt, groupOpt});
    submitOptions.addTo(parser);
    parser.addOptions({graceOpt, jsonOpt, helpOpt, versionOpt});
    parser.addPositionalArgument(QStringLiteral("FILE"), QStringLiteral("Task scripts to run."),
                                 QStringLiteral("FILE..."));

    if (!parser.parse(QStringList{QStringLiteral("taskdeck run")} + splitAttachedJ(arguments)))
        return usageError(parser.errorText());
    if (parser.isSet(helpOpt)) {
        printOut(parser.helpText().toLocal8Bit());
        return AllSucceeded;
    }
    if (parser.isSet(versionOpt)) {
        printOut(QByteArrayLiteral("taskdeck " TASKDECK_VERSION "\n"));
        return AllSucceeded;
    }

    Engine::Options options;
    if (parser.isSet(maxOpt)) {
        const auto n = intAtLeast(parser.value(maxOpt), 1);
        if (!n)
            return usageError(QStringLiteral("--max-concurrency needs an integer >= 1, not \"%1\"")
                                  .arg(parser.value(maxOpt)));
        options.maxRunning = *n;
    }
    QList<std::pair<QString, int>> groupLimits;
    for (const QString &value : parser.values(groupOpt)) {
        const qsizetype eq = value.indexOf(u'=');
        const auto n = eq > 0 ? intAtLeast(value.mid(eq + 1), 1) : std::nullopt;
        if (!n)
            return usageError(
                QStringLiteral("--group needs NAME=LIMIT with LIMIT >= 1, not \"%1\"").arg(value));
        groupLimits.append({value.left(eq), *n});
    }
    if (parser.isSet(graceOpt)) {
        const auto ms = ScriptLoader::parseDuration(parser.value(graceOpt));
        if (!ms)
            return usageError(QStringLiteral("--grace needs a duration of at most 365 days such "
                                             "as 500ms or 5s, not \"%1\"")
                                  .arg(parser.value(graceOpt)));
        options.gracePeriodMs = *ms;
    }
    if (const QString error = submitOptions.read(parser); !error.isEmpty())
        return usageError(error);
    const QStringList files = parser.positionalArguments();
    if (files.isEmpty())
        return usageError(QStringLiteral("no task scripts given"));

    m_json = parser.isSet(jsonOpt);
    m_progressLine = isatty(STDERR_FILENO);
    options.publishIntervalMs = 50;
    m_engine = std::make_unique<Engine>(options);
    for (const auto &[group, limit] : groupLimits)
        m_engine->setGroupLimit(group, limit);
    connect(m_engine.get(), &Engine::updated, this, &RunCommand::onUpdate);

    // Every file read first, then all queued at once, so priorities order the whole
    // command line (the first file does not start while later ones are being read).
    const Submission submission = Submission::load(files, submitOptions.options());
    for (const QString &rejection : submission.rejections())
        printErr(QStringLiteral("taskdeck: %1").arg(rejection));
    m_rejected = !submission.rejections().isEmpty();
    if (submission.isEmpty())
        return SomeFailed;
    QString refusal;
    const QList<TaskId> ids = submission.queueOn(*m_engine, &refusal);
    if (!refusal.isEmpty()) {
        printErr(QStringLiteral("taskdeck run: %1").arg(refusal));
        return SomeFailed;
    }
    m_firstId = ids.isEmpty() ? 0 : *std::min_element(ids.cbegin(), ids.cend());
    const TaskId lastId = ids.isEmpty() ? 0 : *std::max_element(ids.cbegin(), ids.cend());
    m_reported.assign(ids.isEmpty() ? 0 : size_t(lastId - m_firstId + 1), true);
    qsizetype next = 0;
    for (const Submission::Entry &entry : submission.entries()) {
        for (int i = 0; i < entry.copies; ++i, ++next) {
            const TaskId id = ids[next];
            m_reported[size_t(id - m_firstId)] = false;
            if (m_names.empty() || i == 0 || id != ids[next - 1] + 1)
                m_names.emplace_back(id, entry.spec.name);
        }
    }
    std::sort(m_names.begin(), m_names.end(),
              [](const auto &a, const auto &b) { return a.first < b.first; });
    m_submitted = int(ids.size());
    m_unreported = ids.size();

    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
    auto *interruptPoll = new QTimer(this);
    connect(interruptPoll, &QTimer::timeout, this, &RunCommand::checkInterrupt);
    interruptPoll->start(100);
    return -1;
}

// Every task has ended and been reported. What is left to free (100,000 finished tasks'
// records, their queue and hosts) took 20-50 ms of a queue-trivial run, after its last
// line (issue 15): once the engine has stopped every run (each process a task started is
// gone then), the process ends without freeing it, as compilers do. Sanitizer builds free
// everything, so that the leak checker still sees it all.
int RunCommand::leave(int status)
{
#if defined(__SANITIZE_ADDRESS__)
    return status;
#else
    if (!m_engine || !m_engine->shutdown())
        return status;
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(status);
#endif
}

void RunCommand::checkInterrupt()
{
    const int count = interruptSignals.load();
    if (count == m_interrupts)
        return;
    m_interrupts = count;
    if (count == 1) {
        clearProgress();
        printErr(QStringLiteral("taskdeck: interrupted: cancelling all tasks (again to quit "
                                "at once)"));
        m_engine->cancelAll();
    } else {
        std::_Exit(130);
    }
}

// "#id name" of a task of this run.
QString RunCommand::label(TaskId id) const
{
    auto it = std::upper_bound(m_names.cbegin(), m_names.cend(), id,
                               [](TaskId v, const auto &run) { return v < run.first; });
    const QString name = it == m_names.cbegin() ? QString() : std::prev(it)->second;
    return u'#' + QString::number(id) + u' ' + name;
}

void RunCommand::onUpdate(const EngineUpdate &update)
{
    clearProgress();
    if (!m_json) {
        QString out;
        for (const LogLines &log : update.logs) {
            const QString label = this->label(log.id);
            for (const QString &line : log.lines)
                out += QStringLiteral("[%1] %2\n").arg(label, Console::escaped(line));
        }
        printText(out);
    }
    // The batch's endings, printed at once.
    m_out.clear();
    for (const TaskSnapshot &task : update.changed) {
        const TaskId at = task.id - m_firstId;
        if (isFinished(task.state) && task.id >= m_firstId && size_t(at) < m_reported.size() &&
            !m_reported[size_t(at)]) {
            m_reported[size_t(at)] = true;
            --m_unreported;
            report(task);
        }
    }
    if (!m_out.isEmpty())
        printOut(m_out);
    std::fflush(stdout);
    if (m_unreported == 0) {
        if (!m_json)
            printErr(QStringLiteral("taskdeck: %1 tasks: %2 succeeded, %3 failed, %4 timed out, "
                                    "%5 cancelled")
                         .arg(m_submitted)
                         .arg(update.counts.succeeded)
                         .arg(update.counts.failed)
                         .arg(update.counts.timedOut)
                         .arg(update.counts.cancelled));
        m_exitCode = (m_anyUnsuccessful || m_rejected) ? SomeFailed : AllSucceeded;
        QCoreApplication::exit(m_exitCode);
        return;
    }
    drawProgress(update.counts);
}

void RunCommand::report(const TaskSnapshot &task)
{
    if (task.state != TaskState::Succeeded)
        m_anyUnsuccessful = true;
    if (m_json) {
        m_out += QJsonDocument(TaskJson::task(task)).toJson(QJsonDocument::Compact) + '\n';
        return;
    }
    QString line = label(task.id) + QStringLiteral(": ") + taskStateName(task.state);
    if (task.startedAtMs >= 0)
        line += QStringLiteral(" in ") +
                QString::number(double(task.finishedAtMs - task.startedAtMs) / 1000.0, 'f', 3) +
                u's';
    if (task.attempt > 1)
        line += QStringLiteral(" after %1 attempts").arg(task.attempt);
    if (task.state == TaskState::Succeeded) {
        if (!task.result.isNull() && !task.result.isUndefined()) {
            const QJsonValue r = task.result;
            const QString text =
                r.isString() ? r.toString()
                : r.isArray()
                    ? QString::fromUtf8(QJsonDocument(r.toArray()).toJson(QJsonDocument::Compact))
                : r.isObject()
                    ? QString::fromUtf8(QJsonDocument(r.toObject()).toJson(QJsonDocument::Compact))
                    : r.toVariant().toString();
            line += QStringLiteral(" => %1").arg(oneLine(text));
        }
    } else if (!task.error.isEmpty()) {
        line += QStringLiteral(": %1").arg(task.error);
    }
    line += u'\n';
    if (task.state != TaskState::Succeeded && task.stack) {
        const QString awaiting = task.stack->shownAwaiting();
        if (!awaiting.isEmpty())
            line += QStringLiteral("    awaiting %1\n").arg(awaiting);
        for (const StackFrame &f : task.stack->shownFrames())
            line += QStringLiteral("    at %1:%2 in %3\n").arg(f.file).arg(f.line).arg(f.function);
        line += childrenText(*task.stack, 1);
    }
    m_out += Console::escaped(line, true).toUtf8();
}

// The coroutines under `node`, one line each, identical ones merged (SPEC section 9):
// "    - 50 × fetch_page #2, awaiting sleep(1)".
QString RunCommand::childrenText(const StackNode &node, int depth)
{
    QString text;
    for (const StackNode &child : node.children) {
        if (child.isProcess())
            continue;
        QString what = child.name.isEmpty()
                           ? QStringLiteral("#%1").arg(child.id)
                           : QStringLiteral("%1 #%2").arg(child.name).arg(child.id);
        if (child.id == 0) // a summary ("… and 900 more coroutines")
            what.clear();
        if (child.count > 1)
            what = QStringLiteral("%1 × %2").arg(child.count).arg(child.name);
        QString line = QString(4 * depth, u' ') + QStringLiteral("- ") + what;
        if (!child.awaiting.isEmpty())
            line +=
                what.isEmpty() ? child.awaiting : QStringLiteral(", awaiting ") + child.awaiting;
        text += line + u'\n';
        if (depth < 4)
            text += childrenText(child, depth + 1);
    }
    return text;
}

void RunCommand::drawProgress(const EngineCounts &c)
{
    if (!m_progressLine)
        return;
    const QString text = QStringLiteral("\r\033[K[taskdeck] %1 running, %2 pending, %3/%4 done "
                                        "(%5 failed)")
                             .arg(c.running)
                             .arg(c.pending)
                             .arg(m_submitted - m_unreported)
                             .arg(m_submitted)
                             .arg(c.failed + c.timedOut);
    const QByteArray bytes = text.toLocal8Bit();
    std::fwrite(bytes.constData(), 1, size_t(bytes.size()), stderr);
    std::fflush(stderr);
    m_progressShown = true;
}

void RunCommand::clearProgress()
{
    if (!m_progressShown)
        return;
    std::fputs("\r\033[K", stderr);
    m_progressShown = false;
}
