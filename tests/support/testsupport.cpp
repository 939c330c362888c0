#include "testsupport.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QTest>

#include <csignal>

#include <sys/resource.h>

namespace {

QStringList linesOf(const QByteArray &bytes)
{
    return QString::fromUtf8(bytes).split(u'\n', Qt::SkipEmptyParts);
}

} // namespace

QStringList ProgramRun::outLines() const
{
    return linesOf(out);
}

QStringList ProgramRun::errLines() const
{
    return linesOf(err);
}

QString ProgramRun::describe() const
{
    return QStringLiteral("exit %1\n--- stdout:\n%2--- stderr:\n%3")
        .arg(exitCode)
        .arg(QString::fromUtf8(out), QString::fromUtf8(err));
}

ProgramRun runProgram(const QString &program, const QStringList &args,
                      const QProcessEnvironment &env, const QString &workDir, int timeoutMs)
{
    QProcess process;
    process.setProcessEnvironment(env);
    process.setWorkingDirectory(workDir.isEmpty() ? QDir::tempPath() : workDir);
    process.setStandardInputFile(QProcess::nullDevice());
    QElapsedTimer timer;
    timer.start();
    process.start(program, args);
    ProgramRun result;
    result.finished = process.waitForFinished(timeoutMs);
    if (!result.finished) {
        process.kill();
        process.waitForFinished(5000);
    }
    result.elapsedMs = timer.elapsed();
    result.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    result.out = process.readAllStandardOutput();
    result.err = process.readAllStandardError();
    return result;
}

ScriptDir::ScriptDir() = default;

QString ScriptDir::write(const QString &name, const QByteArray &content, bool executable)
{
    const QString path = m_dir.filePath(name);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate))
        qFatal("cannot write %s", qPrintable(path));
    file.write(content);
    file.close();
    if (executable)
        file.setPermissions(file.permissions() | QFile::ExeOwner | QFile::ExeUser);
    return path;
}

TaskSpec ScriptDir::spec(const QString &name, const QByteArray &content)
{
    const auto loaded = ScriptLoader::load(write(name, content));
    if (!loaded.spec) {
        QTest::qFail(qPrintable(loaded.error), __FILE__, __LINE__);
        return TaskSpec();
    }
    return *loaded.spec;
}

UpdateRecorder::UpdateRecorder(Engine *engine)
{
    QObject::connect(engine, &Engine::updated, engine, [this](const EngineUpdate &update) {
        ++m_batches;
        for (const TaskSnapshot &t : update.changed)
            if (t.state != TaskState::Pending && t.startedAtMs >= 0 && !m_started.contains(t.id))
                m_started.append(t.id);
        for (const LogLines &log : update.logs)
            m_logs[log.id].append(log.lines);
    });
}

TaskState stateOf(const Engine &engine, TaskId id)
{
    const auto task = engine.task(id);
    return task ? task->state : TaskState::Pending;
}

bool isSuspended(const Engine &engine, TaskId id)
{
    const auto stack = engine.liveStack(id);
    return stack && !stack->awaiting.isEmpty() && !stack->awaiting.startsWith(u"nothing");
}

QStringList readLines(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return QString::fromUtf8(file.readAll()).split(u'\n', Qt::SkipEmptyParts);
}

QList<QStringList> parseCsv(const QString &text)
{
    QList<QStringList> records;
    QStringList record;
    QString field;
    bool quoted = false;
    for (qsizetype i = 0; i < text.size(); ++i) {
        const QChar c = text[i];
        if (quoted) {
            if (c == u'"' && i + 1 < text.size() && text[i + 1] == u'"') {
                field += u'"';
                ++i;
            } else if (c == u'"') {
                quoted = false;
            } else {
                field += c;
            }
        } else if (c == u'"') {
            quoted = true;
        } else if (c == u',') {
            record.append(field);
            field.clear();
        } else if (c == u'\r' && i + 1 < text.size() && text[i + 1] == u'\n') {
            record.append(field);
            field.clear();
            records.append(record);
            record.clear();
            ++i;
        } else {
            field += c;
        }
    }
    if (!field.isEmpty() || !record.isEmpty()) {
        record.append(field);
        records.append(record);
    }
    return records;
}

FileSizeLimit::FileSizeLimit(qint64 bytes)
{
    rlimit limit{};
    if (getrlimit(RLIMIT_FSIZE, &limit) != 0 ||
        (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < rlim_t(bytes)))
        return;
    m_oldSoft = limit.rlim_cur;
    m_oldHandler = std::signal(SIGXFSZ, SIG_IGN);
    limit.rlim_cur = rlim_t(bytes);
    m_set = setrlimit(RLIMIT_FSIZE, &limit) == 0;
    if (!m_set)
        std::signal(SIGXFSZ, m_oldHandler);
}

void FileSizeLimit::lift()
{
    if (!m_set)
        return;
    rlimit limit{};
    getrlimit(RLIMIT_FSIZE, &limit);
    limit.rlim_cur = rlim_t(m_oldSoft);
    setrlimit(RLIMIT_FSIZE, &limit);
    std::signal(SIGXFSZ, m_oldHandler);
    m_set = false;
}

void FileSizeLimit::setInChild(qint64 bytes)
{
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit{};
    getrlimit(RLIMIT_FSIZE, &limit);
    limit.rlim_cur = rlim_t(bytes);
    setrlimit(RLIMIT_FSIZE, &limit);
}
