// Submission: how paths (files and folders), overrides and repeats become specs and
// rejections, and how they are queued (SPEC sections 1, 5 and 7).
#include "submission.h"
#include "testsupport.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTest>

#include <unistd.h>

namespace {

// The spec files of a submission's entries, relative to `base`.
QStringList filesOf(const Submission &submission, const QString &base)
{
    QStringList files;
    for (const Submission::Entry &entry : submission.entries())
        files.append(QDir(base).relativeFilePath(entry.spec.file));
    return files;
}

QString joinedRejections(const Submission &submission)
{
    return submission.rejections().join(u'\n');
}

} // namespace

class tst_Submission : public QObject
{
    Q_OBJECT

private slots:
    void filesAreTakenInTheOrderGiven();
    void folderStandsForItsFilesInNameOrder();
    void nestedFoldersExpandWhereTheirNameSortsSkippingHiddenOnes();
    void rejectionsAreOneLineWithFileAndLineAndTheRestIsKept();
    void missingPathIsRejectedNamingIt();
    void emptyFolderIsRejectedNotIgnored();
    void unreadableFileIsRejectedAndTheRestIsKept();
    void unreadableSubfolderIsRejectedNotSkippedSilently();
    void overridesApplyToEveryScriptOverTheirDirectives();
    void repeatGivesEachScriptThatManyTasksInOrder();
    void pathNamedTwiceIsReadOnceAndGivesItsTasksTwice();
    void wholeSubmissionIsQueuedBeforeAnyTaskStarts();
    void nothingToQueueQueuesNothing();
};

void tst_Submission::filesAreTakenInTheOrderGiven()
{
    ScriptDir dir;
    const QString b = dir.write("b.lua", "return 1\n");
    const QString a = dir.write("a.sh", "echo a\n");
    const Submission submission = Submission::load({b, a});
    QCOMPARE(filesOf(submission, dir.path()), (QStringList{"b.lua", "a.sh"}));
    QCOMPARE(submission.entries().at(0).input, 0);
    QCOMPARE(submission.entries().at(1).input, 1);
    QCOMPARE(submission.entries().at(1).spec.kind, ScriptKind::Process);
    QVERIFY(submission.rejections().isEmpty());
}

void tst_Submission::folderStandsForItsFilesInNameOrder()
{
    ScriptDir dir;
    QVERIFY(QDir(dir.path()).mkpath("jobs"));
    dir.write("jobs/c.lua", "return 3\n");
    dir.write("jobs/a.lua", "return 1\n");
    dir.write("jobs/b.py", "print(2)\n");
    const QString single = dir.write("first.lua", "return 0\n");
    const Submission submission = Submission::load({single, dir.path() + "/jobs"});
    QCOMPARE(filesOf(submission, dir.path()),
             (QStringList{"first.lua", "jobs/a.lua", "jobs/b.py", "jobs/c.lua"}));
    QCOMPARE(submission.entries().at(0).input, 0);
    for (int i = 1; i < 4; ++i)
        QCOMPARE(submission.entries().at(i).input, 1);
    QVERIFY2(submission.rejections().isEmpty(), qPrintable(joinedRejections(submission)));
}

void tst_Submission::nestedFoldersExpandWhereTheirNameSortsSkippingHiddenOnes()
{
    ScriptDir dir;
    QVERIFY(QDir(dir.path()).mkpath("m/n"));
    QVERIFY(QDir(dir.path()).mkpath(".git"));
    dir.write("z.lua", "return 1\n");
    dir.write("m-x.lua", "return 1\n");
    dir.write("m/x.lua", "return 1\n");
    dir.write("m/n/y.lua", "return 1\n");
    dir.write("m/w.lua", "return 1\n");
    dir.write("a.lua", "return 1\n");
    dir.write(".hidden.lua", "return 1\n");
    dir.write(".git/config.lua", "return 1\n");
    // A folder reached through a symlink is not entered (no loops, no escapes).
    QVERIFY(QFile::link(dir.path() + "/m", dir.path() + "/m-link"));

    QStringList unreadable;
    const QStringList files = Submission::filesIn(dir.path(), &unreadable);
    QVERIFY(unreadable.isEmpty());
    // "m" sorts before "m-x.lua" as a name, so its files come first (as `ls` lists them).
    const QStringList expected{"a.lua", "m/n/y.lua", "m/w.lua", "m/x.lua", "m-x.lua", "z.lua"};
    QStringList relative;
    for (const QString &file : files)
        relative.append(QDir(dir.path()).relativeFilePath(file));
    QCOMPARE(relative, expected);
    QCOMPARE(filesOf(Submission::load({dir.path()}), dir.path()), expected);
}

void tst_Submission::rejectionsAreOneLineWithFileAndLineAndTheRestIsKept()
{
    ScriptDir dir;
    QVERIFY(QDir(dir.path()).mkpath("jobs"));
    dir.write("jobs/a.lua", "return 1\n");
    dir.write("jobs/bad.lua", "-- @name fine\n-- @bogus 1\nreturn 1\n");
    dir.write("jobs/notes.txt", "just text\n");
    dir.write("jobs/z.lua", "-- @timeout soon\nreturn 1\n");
    const QString folder = dir.path() + "/jobs";
    const Submission submission = Submission::load({folder});
    QCOMPARE(filesOf(submission, folder), QStringList{"a.lua"});
    const QStringList rejections = submission.rejections();
    QCOMPARE(rejections.size(), 3);
    QVERIFY2(rejections[0].startsWith(folder + "/bad.lua:2: unknown directive @bogus"),
             qPrintable(rejections[0]));
    QVERIFY2(rejections[1].startsWith(folder + "/notes.txt: not a task script"),
             qPrintable(rejections[1]));
    QVERIFY2(rejections[2].startsWith(folder + "/z.lua:1: @timeout must be a duration"),
             qPrintable(rejections[2]));
    for (const QString &rejection : rejections)
        QVERIFY2(!rejection.contains(u'\n'), qPrintable(rejection));
}

void tst_Submission::missingPathIsRejectedNamingIt()
{
    ScriptDir dir;
    const QString a = dir.write("a.lua", "return 1\n");
    const QString missing = dir.path() + "/missing.lua";
    const Submission submission = Submission::load({missing, a});
    QCOMPARE(filesOf(submission, dir.path()), QStringList{"a.lua"});
    QCOMPARE(submission.entries().at(0).input, 1);
    QCOMPARE(submission.rejections(), QStringList{missing + ": no such file"});
}

void tst_Submission::emptyFolderIsRejectedNotIgnored()
{
    ScriptDir dir;
    QVERIFY(QDir(dir.path()).mkpath("empty"));
    QVERIFY(QDir(dir.path()).mkpath("hollow/inner"));
    const QString a = dir.write("a.lua", "return 1\n");
    const Submission submission =
        Submission::load({dir.path() + "/empty", a, dir.path() + "/hollow"});
    QCOMPARE(filesOf(submission, dir.path()), QStringList{"a.lua"});
    QCOMPARE(submission.rejections(), (QStringList{dir.path() + "/empty: folder holds no files",
                                                   dir.path() + "/hollow: folder holds no files"}));
}

void tst_Submission::unreadableFileIsRejectedAndTheRestIsKept()
{
    ScriptDir dir;
    QVERIFY(QDir(dir.path()).mkpath("jobs"));
    dir.write("jobs/a.lua", "return 1\n");
    const QString locked = dir.write("jobs/b.lua", "return 2\n");
    dir.write("jobs/c.lua", "return 3\n");
    QVERIFY(QFile::setPermissions(locked, QFileDevice::Permissions()));
    if (QFile(locked).open(QIODevice::ReadOnly)) {
        // root reads any file: a write-only /proc/sys file stays unreadable even for it.
        const QString writeOnly = QStringLiteral("/proc/sys/vm/compact_memory");
        if (QFile(writeOnly).open(QIODevice::ReadOnly) || !QFileInfo::exists(writeOnly))
            QSKIP("no file this user cannot read");
        QVERIFY(QFile::remove(locked));
        QVERIFY(QFile::link(writeOnly, locked));
    }
    const QString folder = dir.path() + "/jobs";
    const Submission submission = Submission::load({folder});
    QCOMPARE(filesOf(submission, folder), (QStringList{"a.lua", "c.lua"}));
    QCOMPARE(submission.rejections().size(), 1);
    QVERIFY2(submission.rejections().at(0).startsWith(locked + ": cannot read: "),
             qPrintable(joinedRejections(submission)));
}

void tst_Submission::unreadableSubfolderIsRejectedNotSkippedSilently()
{
    if (geteuid() == 0)
        QSKIP("root lists any folder");
    ScriptDir dir;
    QVERIFY(QDir(dir.path()).mkpath("jobs/locked"));
    dir.write("jobs/a.lua", "return 1\n");
    dir.write("jobs/locked/b.lua", "return 2\n");
    const QString locked = dir.path() + "/jobs/locked";
    QVERIFY(QFile::setPermissions(locked, QFileDevice::Permissions()));
    const Submission submission = Submission::load({dir.path() + "/jobs"});
    QFile::setPermissions(locked,
                          QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner);
    QCOMPARE(filesOf(submission, dir.path()), QStringList{"jobs/a.lua"});
    QCOMPARE(submission.rejections(), QStringList{locked + ": cannot read folder"});
}

void tst_Submission::overridesApplyToEveryScriptOverTheirDirectives()
{
    ScriptDir dir;
    QVERIFY(QDir(dir.path()).mkpath("jobs"));
    dir.write("jobs/a.lua", "-- @priority 1\n-- @group net\n-- @timeout 5s\n-- @retries 4\n"
                            "-- @arg who=script\n-- @arg keep=yes\nreturn 1\n");
    dir.write("jobs/b.sh", "# @memory 1MiB\necho b\n");
    SubmissionOptions options;
    options.overrides.priority = 7;
    options.overrides.group = QStringLiteral("batch");
    options.overrides.timeoutMs = 250;
    options.overrides.retries = 2;
    options.overrides.memoryBytes = 128 * 1024;
    options.overrides.args = {{"who", "cli"}};
    const Submission submission = Submission::load({dir.path() + "/jobs"}, options);
    QCOMPARE(submission.entries().size(), 2);
    for (const Submission::Entry &entry : submission.entries()) {
        QCOMPARE(entry.spec.priority, 7);
        QCOMPARE(entry.spec.group, QStringLiteral("batch"));
        QCOMPARE(entry.spec.timeoutMs, qint64(250));
        QCOMPARE(entry.spec.retries, 2);
        QCOMPARE(entry.spec.memoryBytes, qint64(128 * 1024));
        QVERIFY(entry.spec.args.contains(std::pair<QString, QString>("who", "cli")));
    }
    const TaskSpec &a = submission.entries().at(0).spec;
    QCOMPARE(a.args, (QList<std::pair<QString, QString>>{{"keep", "yes"}, {"who", "cli"}}));
    QCOMPARE(a.name, QStringLiteral("a.lua"));
}

void tst_Submission::repeatGivesEachScriptThatManyTasksInOrder()
{
    ScriptDir dir;
    const QString a = dir.write("a.lua", "-- @name first\nsleep(60)\n");
    const QString b = dir.write("b.lua", "-- @name second\nsleep(60)\n");
    SubmissionOptions options;
    options.repeat = 3;
    const Submission submission = Submission::load({a, b}, options);
    QCOMPARE(submission.entries().size(), 2);
    QCOMPARE(submission.entries().at(0).copies, 3);
    QCOMPARE(submission.entries().at(1).copies, 3);
    QCOMPARE(submission.taskCount(), qint64(6));

    Engine engine;
    engine.pause();
    const QList<TaskId> ids = submission.queueOn(engine);
    QCOMPARE(ids.size(), 6);
    QStringList names;
    for (const std::optional<TaskSnapshot> &task : engine.tasks(ids)) {
        QVERIFY(task);
        names.append(task->name);
    }
    QCOMPARE(names, (QStringList{"first", "first", "first", "second", "second", "second"}));
    engine.cancelAll();
}

void tst_Submission::pathNamedTwiceIsReadOnceAndGivesItsTasksTwice()
{
    // As Retry failed names a script once per failed task.
    ScriptDir dir;
    const QString a = dir.write("a.lua", "return 1\n");
    const QString bad = dir.write("bad.lua", "-- @retries many\nreturn 1\n");
    const Submission submission = Submission::load({a, bad, a, bad, a});
    QCOMPARE(filesOf(submission, dir.path()), (QStringList{"a.lua", "a.lua", "a.lua"}));
    QCOMPARE(submission.entries().at(0).input, 0);
    QCOMPARE(submission.entries().at(1).input, 2);
    QCOMPARE(submission.entries().at(2).input, 4);
    QCOMPARE(submission.rejections().size(), 1);
    QVERIFY(submission.rejections().at(0).startsWith(bad + ":1: @retries"));
}

void tst_Submission::wholeSubmissionIsQueuedBeforeAnyTaskStarts()
{
    // One at a time: were the first file queued alone, it would start before the second,
    // of a higher priority, is queued.
    ScriptDir dir;
    const QString out = dir.path() + "/order.txt";
    auto script = [&](const QByteArray &directives) {
        return directives + "local f = assert(io.open(\"" + out.toUtf8() +
               "\", \"a\"))\nf:write(task.name, \"\\n\")\nf:close()\n";
    };
    QVERIFY(QDir(dir.path()).mkpath("jobs"));
    dir.write("jobs/1-low.lua", script("-- @name low\n-- @priority 0\n"));
    dir.write("jobs/2-mid.lua", script("-- @name mid\n-- @priority 5\n"));
    const QString high = dir.write("high.lua", script("-- @name high\n-- @priority 9\n"));

    Engine engine(Engine::Options{.maxRunning = 1});
    const QList<TaskId> ids = Submission::load({dir.path() + "/jobs", high}).queueOn(engine);
    QCOMPARE(ids.size(), 3);
    QTRY_COMPARE_WITH_TIMEOUT(readLines(out).size(), 3, 20000);
    QCOMPARE(readLines(out), (QStringList{"high", "mid", "low"}));
}

void tst_Submission::nothingToQueueQueuesNothing()
{
    ScriptDir dir;
    const Submission submission = Submission::load({dir.path() + "/missing.lua"});
    QVERIFY(submission.isEmpty());
    QCOMPARE(submission.taskCount(), qint64(0));
    Engine engine;
    QVERIFY(submission.queueOn(engine).isEmpty());
    QVERIFY(engine.tasks().isEmpty());
}

QTEST_GUILESS_MAIN(tst_Submission)
#include "tst_submission.moc"
