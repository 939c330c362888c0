// ScriptLoader: how a file's kind is decided and how its directives are read (SPEC 1).
#include "scriptloader.h"
#include "testsupport.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>
#include <QTest>

#include <optional>

using Args = QList<std::pair<QString, QString>>;

// The directive fields of a spec; a row of a _data table states all of them, so a
// directive that leaks into another field fails too.
struct Directives
{
    QString name; // empty: the file name
    int priority = 0;
    QString group = QStringLiteral("default");
    qint64 timeoutMs = -1;
    int retries = 0;
    qint64 retryDelayMs = 1000;
    qint64 memoryBytes = 0;
    Args args;
};
Q_DECLARE_METATYPE(Directives)

namespace {

template <typename F> Directives with(F change)
{
    Directives d;
    change(d);
    return d;
}

// An error of the form "file:line: reason" on one line, for the path as given.
void verifyErrorAt(const QString &error, const QString &path, int line)
{
    const QString prefix = QStringLiteral("%1:%2: ").arg(path).arg(line);
    QVERIFY2(error.startsWith(prefix), qPrintable(error));
    QVERIFY2(error.size() > prefix.size(), "the reason is empty");
    QVERIFY2(!error.contains(u'\n'), qPrintable(error));
}

} // namespace

class tst_ScriptLoader : public QObject
{
    Q_OBJECT

private slots:
    void kindIsDecidedByExtensionShebangOrExecutableBit_data();
    void kindIsDecidedByExtensionShebangOrExecutableBit();
    void luaSpecHoldsSourceAbsolutePathAndFileName();
    void filesThatAreNotTaskScriptsAreRejectedNamingTheFile_data();
    void filesThatAreNotTaskScriptsAreRejectedNamingTheFile();
    void directoryIsRejected();
    void missingFileIsRejected();
    void unreadableFileIsRejected();
    void luaFileOverOneMiBIsRejected();

    void directivesAreParsed_data();
    void directivesAreParsed();
    void malformedDirectiveRejectsWithFileAndLine_data();
    void malformedDirectiveRejectsWithFileAndLine();
    void errorNamesThePathAsGiven();
    void deadlockDirectiveIsFailOrWarn();

    void parseDuration_data();
    void parseDuration();
    void parseSize_data();
    void parseSize();
    void parseArg_data();
    void parseArg();

    void overridesReplaceDirectivesAndArgsOfTheSameKey();
    void emptyOverridesChangeNothing();
};

// ---- kinds ----

void tst_ScriptLoader::kindIsDecidedByExtensionShebangOrExecutableBit_data()
{
    QTest::addColumn<QString>("fileName");
    QTest::addColumn<QByteArray>("content");
    QTest::addColumn<bool>("executable");
    QTest::addColumn<int>("kind");
    // The argv, with FILE standing for the script's absolute path; empty for Lua.
    QTest::addColumn<QStringList>("command");

    const QStringList none;
    const int lua = int(ScriptKind::Lua);
    const int process = int(ScriptKind::Process);
    QTest::newRow(".lua") << "t.lua" << QByteArray("return 1\n") << false << lua << none;
    QTest::newRow(".lua with the executable bit")
        << "t.lua" << QByteArray("return 1\n") << true << lua << none;
    QTest::newRow(".lua with a #! line")
        << "t.lua" << QByteArray("#!/usr/bin/env lua\nreturn 1\n") << false << lua << none;
    QTest::newRow(".sh") << "t.sh" << QByteArray("echo hi\n") << false << process
                         << QStringList{"sh", "FILE"};
    QTest::newRow(".py") << "t.py" << QByteArray("print('hi')\n") << false << process
                         << QStringList{"python3", "FILE"};
    QTest::newRow("#! line, no extension") << "job" << QByteArray("#!/bin/bash\necho hi\n") << false
                                           << process << QStringList{"/bin/bash", "FILE"};
    QTest::newRow("#! line with an argument")
        << "job" << QByteArray("#!/usr/bin/env python3\nprint(1)\n") << false << process
        << QStringList{"/usr/bin/env", "python3", "FILE"};
    QTest::newRow("#! line, unknown extension")
        << "job.txt" << QByteArray("#!/bin/sh\necho hi\n") << false << process
        << QStringList{"/bin/sh", "FILE"};
    QTest::newRow("executable bit, no #! line")
        << "job" << QByteArray("echo hi\n") << true << process << QStringList{"FILE"};
    QTest::newRow("executable bit and a #! line: run directly")
        << "job" << QByteArray("#!/bin/sh\necho hi\n") << true << process << QStringList{"FILE"};
    QTest::newRow("executable binary") << "tool"
                                       << QByteArray("\x7f"
                                                     "ELF\x02\x01\x01\0\0\0",
                                                     10)
                                       << true << process << QStringList{"FILE"};
}

void tst_ScriptLoader::kindIsDecidedByExtensionShebangOrExecutableBit()
{
    QFETCH(QString, fileName);
    QFETCH(QByteArray, content);
    QFETCH(bool, executable);
    QFETCH(int, kind);
    QFETCH(QStringList, command);

    ScriptDir dir;
    const QString path = dir.write(fileName, content, executable);
    const auto loaded = ScriptLoader::load(path);
    QVERIFY2(loaded.spec, qPrintable(loaded.error));
    QVERIFY(loaded.error.isEmpty());
    QCOMPARE(int(loaded.spec->kind), kind);
    command.replaceInStrings(QRegularExpression(QStringLiteral("^FILE$")),
                             QFileInfo(path).absoluteFilePath());
    QCOMPARE(loaded.spec->command, command);
}

void tst_ScriptLoader::luaSpecHoldsSourceAbsolutePathAndFileName()
{
    ScriptDir dir;
    const QByteArray source = "-- a task\nreturn 42\n";
    const QString path = dir.write(QStringLiteral("answer.lua"), source);
    const auto loaded = ScriptLoader::load(path);
    QVERIFY2(loaded.spec, qPrintable(loaded.error));
    QCOMPARE(loaded.spec->source, source);
    QCOMPARE(loaded.spec->file, QFileInfo(path).absoluteFilePath());
    QVERIFY(QFileInfo(loaded.spec->file).isAbsolute());
    QCOMPARE(loaded.spec->name, QStringLiteral("answer.lua"));
}

void tst_ScriptLoader::filesThatAreNotTaskScriptsAreRejectedNamingTheFile_data()
{
    QTest::addColumn<QString>("fileName");
    QTest::addColumn<QByteArray>("content");
    QTest::addColumn<bool>("executable");

    const QByteArray elf("\x7f"
                         "ELF\x02\x01\x01\0\0\0",
                         10);
    QTest::newRow("binary, no executable bit") << "blob" << elf << false;
    QTest::newRow(".sh holding binary data, no executable bit") << "blob.sh" << elf << false;
    QTest::newRow("text, no extension, no #!, no executable bit")
        << "notes" << QByteArray("echo hi\n") << false;
    QTest::newRow("unknown extension") << "notes.txt" << QByteArray("hello\n") << false;
    QTest::newRow("empty .lua") << "empty.lua" << QByteArray() << false;
    QTest::newRow("empty .sh") << "empty.sh" << QByteArray() << false;
    QTest::newRow("empty executable") << "empty" << QByteArray() << true;
    QTest::newRow(".lua with NUL bytes")
        << "nul.lua" << QByteArray("return 1\n\0\0\0garbage", 19) << false;
}

void tst_ScriptLoader::filesThatAreNotTaskScriptsAreRejectedNamingTheFile()
{
    QFETCH(QString, fileName);
    QFETCH(QByteArray, content);
    QFETCH(bool, executable);

    ScriptDir dir;
    const QString path = dir.write(fileName, content, executable);
    const auto loaded = ScriptLoader::load(path);
    QVERIFY(!loaded.spec);
    QVERIFY2(loaded.error.startsWith(path + QStringLiteral(": ")), qPrintable(loaded.error));
    QVERIFY2(loaded.error.size() > path.size() + 2, "the reason is empty");
    QVERIFY2(!loaded.error.contains(u'\n'), qPrintable(loaded.error));
}

void tst_ScriptLoader::directoryIsRejected()
{
    ScriptDir dir;
    const QString path = dir.path() + QStringLiteral("/folder.lua");
    QVERIFY(QDir().mkdir(path));
    const auto loaded = ScriptLoader::load(path);
    QVERIFY(!loaded.spec);
    QVERIFY2(loaded.error.startsWith(path + QStringLiteral(": ")), qPrintable(loaded.error));
    QVERIFY2(loaded.error.contains(QStringLiteral("directory")), qPrintable(loaded.error));
}

void tst_ScriptLoader::missingFileIsRejected()
{
    ScriptDir dir;
    const QString path = dir.path() + QStringLiteral("/nowhere.lua");
    const auto loaded = ScriptLoader::load(path);
    QVERIFY(!loaded.spec);
    QVERIFY2(loaded.error.startsWith(path + QStringLiteral(": ")), qPrintable(loaded.error));
    QVERIFY(!loaded.error.contains(u'\n'));
}

void tst_ScriptLoader::unreadableFileIsRejected()
{
    ScriptDir dir;
    const QString path = dir.write(QStringLiteral("secret.lua"), "return 1\n");
    QVERIFY(QFile::setPermissions(path, QFileDevice::Permissions()));
    {
        QFile probe(path);
        if (probe.open(QIODevice::ReadOnly))
            QSKIP("this user can read a file with mode 000 (running as root)");
    }
    const auto loaded = ScriptLoader::load(path);
    QVERIFY(!loaded.spec);
    QVERIFY2(loaded.error.startsWith(path + QStringLiteral(": ")), qPrintable(loaded.error));
    QVERIFY(!loaded.error.contains(u'\n'));
}

void tst_ScriptLoader::luaFileOverOneMiBIsRejected()
{
    ScriptDir dir;
    // A comment line padded to exactly the limit is fine; one byte more is not.
    QByteArray atLimit = "return 1\n--";
    atLimit += QByteArray(ScriptLoader::MaxLuaSize - atLimit.size() - 1, 'x');
    atLimit += '\n';
    QCOMPARE(atLimit.size(), 1024 * 1024);
    const auto fits = ScriptLoader::load(dir.write(QStringLiteral("fits.lua"), atLimit));
    QVERIFY2(fits.spec, qPrintable(fits.error));

    const QString path = dir.write(QStringLiteral("big.lua"), atLimit + '\n');
    const auto loaded = ScriptLoader::load(path);
    QVERIFY(!loaded.spec);
    QVERIFY2(loaded.error.startsWith(path + QStringLiteral(": ")), qPrintable(loaded.error));
    QVERIFY(!loaded.error.contains(u'\n'));

    // The Lua size limit is not a limit on process scripts.
    const auto shell = ScriptLoader::load(dir.write(QStringLiteral("big.sh"), atLimit + '\n'));
    QVERIFY2(shell.spec, qPrintable(shell.error));
}

// ---- directives ----

void tst_ScriptLoader::directivesAreParsed_data()
{
    QTest::addColumn<QString>("fileName");
    QTest::addColumn<QByteArray>("content");
    QTest::addColumn<Directives>("expected");

    QTest::newRow("none") << "t.lua" << QByteArray("return 1\n") << Directives();
    QTest::newRow("@name with spaces")
        << "t.lua" << QByteArray("-- @name Fetch all the   things \nreturn 1\n")
        << with([](Directives &d) { d.name = "Fetch all the   things"; });
    QTest::newRow("@priority") << "t.lua" << QByteArray("-- @priority 7\n")
                               << with([](Directives &d) { d.priority = 7; });
    QTest::newRow("@priority negative") << "t.lua" << QByteArray("-- @priority -5\n")
                                        << with([](Directives &d) { d.priority = -5; });
    QTest::newRow("@group") << "t.lua" << QByteArray("-- @group net\n")
                            << with([](Directives &d) { d.group = "net"; });
    QTest::newRow("@group with . - _") << "t.lua" << QByteArray("-- @group io.disk-2_a\n")
                                       << with([](Directives &d) { d.group = "io.disk-2_a"; });
    QTest::newRow("@timeout ms") << "t.lua" << QByteArray("-- @timeout 250ms\n")
                                 << with([](Directives &d) { d.timeoutMs = 250; });
    QTest::newRow("@timeout s") << "t.lua" << QByteArray("-- @timeout 30s\n")
                                << with([](Directives &d) { d.timeoutMs = 30000; });
    QTest::newRow("@timeout m") << "t.lua" << QByteArray("-- @timeout 5m\n")
                                << with([](Directives &d) { d.timeoutMs = 300000; });
    QTest::newRow("@timeout h") << "t.lua" << QByteArray("-- @timeout 2h\n")
                                << with([](Directives &d) { d.timeoutMs = 7200000; });
    QTest::newRow("@timeout decimal") << "t.lua" << QByteArray("-- @timeout 1.5s\n")
                                      << with([](Directives &d) { d.timeoutMs = 1500; });
    QTest::newRow("@retries 0") << "t.lua" << QByteArray("-- @retries 0\n") << Directives();
    QTest::newRow("@retries 3") << "t.lua" << QByteArray("-- @retries 3\n")
                                << with([](Directives &d) { d.retries = 3; });
    QTest::newRow("@retry-delay 0ms") << "t.lua" << QByteArray("-- @retry-delay 0ms\n")
                                      << with([](Directives &d) { d.retryDelayMs = 0; });
    QTest::newRow("@retry-delay 2s") << "t.lua" << QByteArray("-- @retry-delay 2s\n")
                                     << with([](Directives &d) { d.retryDelayMs = 2000; });
    QTest::newRow("@memory KiB") << "t.lua" << QByteArray("-- @memory 64KiB\n")
                                 << with([](Directives &d) { d.memoryBytes = 64 * 1024; });
    QTest::newRow("@memory MiB") << "t.lua" << QByteArray("-- @memory 32MiB\n")
                                 << with([](Directives &d) { d.memoryBytes = 32 * 1024 * 1024; });
    QTest::newRow("@memory GiB") << "t.lua" << QByteArray("-- @memory 1GiB\n")
                                 << with([](Directives &d) { d.memoryBytes = qint64(1) << 30; });
    QTest::newRow("@arg") << "t.lua" << QByteArray("-- @arg who=world\n")
                          << with([](Directives &d) {
                                 d.args = {{"who", "world"}};
                             });
    QTest::newRow("@arg repeated, in order")
        << "t.lua" << QByteArray("-- @arg b=2\n-- @arg a=1\n-- @arg url=http://x/?q=1\n")
        << with([](Directives &d) {
               d.args = {{"b", "2"}, {"a", "1"}, {"url", "http://x/?q=1"}};
           });
    QTest::newRow("@arg with an empty value")
        << "t.lua" << QByteArray("-- @arg flag=\n") << with([](Directives &d) {
               d.args = {{"flag", ""}};
           });
    QTest::newRow("all of them, between plain comments") << "t.lua"
                                                         << QByteArray("-- Fetches the feeds.\n"
                                                                       "-- @name feeds\n"
                                                                       "-- @priority 2\n"
                                                                       "--\n"
                                                                       "-- @group net\n"
                                                                       "-- @timeout 5m\n"
                                                                       "-- @retries 2\n"
                                                                       "-- @retry-delay 500ms\n"
                                                                       "-- @memory 32MiB\n"
                                                                       "-- @arg n=3\n"
                                                                       "local n = task.args.n\n"
                                                                       "return n\n")
                                                         << with([](Directives &d) {
                                                                d.name = "feeds";
                                                                d.priority = 2;
                                                                d.group = "net";
                                                                d.timeoutMs = 300000;
                                                                d.retries = 2;
                                                                d.retryDelayMs = 500;
                                                                d.memoryBytes = 32 * 1024 * 1024;
                                                                d.args = {{"n", "3"}};
                                                            });
    QTest::newRow("no space after the marker")
        << "t.lua" << QByteArray("--@priority 4\n") << with([](Directives &d) { d.priority = 4; });
    QTest::newRow("indented comment") << "t.lua" << QByteArray("  -- @priority 4\n")
                                      << with([](Directives &d) { d.priority = 4; });
    QTest::newRow("CRLF line ends")
        << "t.lua" << QByteArray("-- @name crlf\r\n-- @priority 1\r\nreturn 1\r\n")
        << with([](Directives &d) {
               d.name = "crlf";
               d.priority = 1;
           });
    QTest::newRow("lua after a #! line")
        << "t.lua" << QByteArray("#!/usr/bin/env lua\n-- @priority 3\nreturn 1\n")
        << with([](Directives &d) { d.priority = 3; });
    QTest::newRow("shell comments")
        << "t.sh" << QByteArray("# @name backup\n# @group disk\n# @arg dest=/tmp\necho hi\n")
        << with([](Directives &d) {
               d.name = "backup";
               d.group = "disk";
               d.args = {{"dest", "/tmp"}};
           });
    QTest::newRow("shell after a #! line")
        << "job" << QByteArray("#!/bin/sh\n# @timeout 30s\n# @priority -1\necho hi\n")
        << with([](Directives &d) {
               d.timeoutMs = 30000;
               d.priority = -1;
           });
    QTest::newRow("python comments") << "t.py" << QByteArray("# @retries 1\nprint(1)\n")
                                     << with([](Directives &d) { d.retries = 1; });
    QTest::newRow("a directive after code is ignored")
        << "t.lua" << QByteArray("-- @priority 1\nlocal x = 1\n-- @priority 9\n-- @bogus x\n")
        << with([](Directives &d) { d.priority = 1; });
    QTest::newRow("code first: nothing is a directive")
        << "t.lua" << QByteArray("return 1\n-- @name late\n") << Directives();
    QTest::newRow("a blank line ends the directives")
        << "t.lua" << QByteArray("-- @name head\n\n-- @priority 9\n-- @colour red\n")
        << with([](Directives &d) { d.name = "head"; });
    QTest::newRow("the other language's marker is not a comment")
        << "t.sh" << QByteArray("-- @priority 9\n") << Directives();
    QTest::newRow("a #! line is only a shebang on line 1")
        << "t.lua" << QByteArray("-- @priority 2\n#!/bin/sh\n-- @priority 9\n")
        << with([](Directives &d) { d.priority = 2; });
}

void tst_ScriptLoader::directivesAreParsed()
{
    QFETCH(QString, fileName);
    QFETCH(QByteArray, content);
    QFETCH(Directives, expected);

    ScriptDir dir;
    const auto loaded = ScriptLoader::load(dir.write(fileName, content));
    QVERIFY2(loaded.spec, qPrintable(loaded.error));
    const TaskSpec &spec = *loaded.spec;
    QCOMPARE(spec.name, expected.name.isEmpty() ? fileName : expected.name);
    QCOMPARE(spec.priority, expected.priority);
    QCOMPARE(spec.group, expected.group);
    QCOMPARE(spec.timeoutMs, expected.timeoutMs);
    QCOMPARE(spec.retries, expected.retries);
    QCOMPARE(spec.retryDelayMs, expected.retryDelayMs);
    QCOMPARE(spec.memoryBytes, expected.memoryBytes);
    QCOMPARE(spec.args, expected.args);
}

void tst_ScriptLoader::malformedDirectiveRejectsWithFileAndLine_data()
{
    QTest::addColumn<QString>("fileName");
    QTest::addColumn<QByteArray>("content");
    QTest::addColumn<int>("line");
    QTest::addColumn<QString>("mentions"); // a word the reason must contain

    QTest::newRow("unknown key") << "t.lua" << QByteArray("-- @name x\n-- @colour red\nreturn 1\n")
                                 << 2 << "@colour";
    QTest::newRow("unknown key, shell")
        << "t.sh" << QByteArray("# @nmae x\necho\n") << 1 << "@nmae";
    QTest::newRow("missing value") << "t.lua" << QByteArray("-- @priority\n") << 1 << "@priority";
    QTest::newRow("missing value, trailing blanks")
        << "t.lua" << QByteArray("-- @name   \n") << 1 << "@name";
    QTest::newRow("priority a word")
        << "t.lua" << QByteArray("-- @priority high\n") << 1 << "@priority";
    QTest::newRow("priority a fraction")
        << "t.lua" << QByteArray("-- @priority 1.5\n") << 1 << "@priority";
    QTest::newRow("priority too large")
        << "t.lua" << QByteArray("-- @priority 99999999999\n") << 1 << "@priority";
    QTest::newRow("zero timeout") << "t.lua" << QByteArray("-- @timeout 0s\n") << 1 << "@timeout";
    QTest::newRow("negative timeout")
        << "t.lua" << QByteArray("-- @timeout -1s\n") << 1 << "@timeout";
    QTest::newRow("unitless timeout")
        << "t.lua" << QByteArray("-- @timeout 30\n") << 1 << "@timeout";
    QTest::newRow("timeout in days")
        << "t.lua" << QByteArray("-- @timeout 1d\n") << 1 << "@timeout";
    QTest::newRow("timeout whose nanoseconds wrap")
        << "t.lua" << QByteArray("-- @timeout 2562048h\n") << 1 << "@timeout";
    QTest::newRow("retry-delay past 365 days")
        << "t.sh" << QByteArray("# @retry-delay 3000000h\n") << 1 << "@retry-delay";
    QTest::newRow("bad retry-delay")
        << "t.lua" << QByteArray("-- @retry-delay soon\n") << 1 << "@retry-delay";
    QTest::newRow("negative retries")
        << "t.lua" << QByteArray("-- @retries -1\n") << 1 << "@retries";
    QTest::newRow("size without i") << "t.lua" << QByteArray("-- @memory 64KB\n") << 1 << "@memory";
    QTest::newRow("size a word") << "t.lua" << QByteArray("-- @memory lots\n") << 1 << "@memory";
    QTest::newRow("zero size") << "t.lua" << QByteArray("-- @memory 0MiB\n") << 1 << "@memory";
    QTest::newRow("one byte of memory")
        << "t.lua" << QByteArray("-- @memory 1B\n") << 1 << "@memory";
    QTest::newRow("memory under 64KiB")
        << "t.sh" << QByteArray("# @memory 63KiB\n") << 1 << "@memory";
    QTest::newRow("unitless size") << "t.lua" << QByteArray("-- @memory 1024\n") << 1 << "@memory";
    QTest::newRow("@arg without =") << "t.lua" << QByteArray("-- @arg who\n") << 1 << "@arg";
    QTest::newRow("@arg without key") << "t.lua" << QByteArray("-- @arg =x\n") << 1 << "@arg";
    QTest::newRow("@arg key starting with a digit")
        << "t.lua" << QByteArray("-- @arg 1a=x\n") << 1 << "@arg";
    QTest::newRow("@arg key with a dash")
        << "t.lua" << QByteArray("-- @arg a-b=x\n") << 1 << "@arg";
    QTest::newRow("group with a space")
        << "t.lua" << QByteArray("-- @group two words\n") << 1 << "@group";
    QTest::newRow("duplicate key")
        << "t.lua" << QByteArray("-- @name a\n-- @priority 1\n-- @name b\n") << 3 << "@name";
    QTest::newRow("duplicate key, different values")
        << "t.sh" << QByteArray("# @timeout 1s\n# @timeout 2s\n") << 2 << "@timeout";
    QTest::newRow("line counted after a #! line")
        << "job" << QByteArray("#!/bin/sh\n# @group g\n# @priority x\n") << 3 << "@priority";
    QTest::newRow("line counted with CRLF and plain comments")
        << "t.lua" << QByteArray("-- one\r\n-- two\r\n--\r\n-- @retries many\r\n") << 4
        << "@retries";
}

void tst_ScriptLoader::malformedDirectiveRejectsWithFileAndLine()
{
    QFETCH(QString, fileName);
    QFETCH(QByteArray, content);
    QFETCH(int, line);
    QFETCH(QString, mentions);

    ScriptDir dir;
    const QString path = dir.write(fileName, content);
    const auto loaded = ScriptLoader::load(path);
    QVERIFY(!loaded.spec);
    verifyErrorAt(loaded.error, path, line);
    if (QTest::currentTestFailed())
        return;
    const QString reason = loaded.error.mid(path.size());
    QVERIFY2(reason.contains(mentions), qPrintable(loaded.error));
}

void tst_ScriptLoader::errorNamesThePathAsGiven()
{
    ScriptDir dir;
    dir.write(QStringLiteral("bad.lua"), "-- @name ok\n-- @priority high\nreturn 1\n");
    dir.write(QStringLiteral("good.lua"), "return 1\n");
    const QString previous = QDir::currentPath();
    QVERIFY(QDir::setCurrent(dir.path()));
    const auto bad = ScriptLoader::load(QStringLiteral("bad.lua"));
    const auto missing = ScriptLoader::load(QStringLiteral("./gone.lua"));
    const auto good = ScriptLoader::load(QStringLiteral("good.lua"));
    QVERIFY(QDir::setCurrent(previous));

    QVERIFY(!bad.spec);
    verifyErrorAt(bad.error, QStringLiteral("bad.lua"), 2);
    QVERIFY(!missing.spec);
    QVERIFY2(missing.error.startsWith(QStringLiteral("./gone.lua: ")), qPrintable(missing.error));
    QVERIFY2(good.spec, qPrintable(good.error));
    QCOMPARE(good.spec->file, QDir(dir.path()).absoluteFilePath(QStringLiteral("good.lua")));
}

// ---- value parsers ----

void tst_ScriptLoader::parseDuration_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<qint64>("ms"); // -1: rejected

    QTest::newRow("ms") << "250ms" << qint64(250);
    QTest::newRow("0ms") << "0ms" << qint64(0);
    QTest::newRow("s") << "30s" << qint64(30000);
    QTest::newRow("m") << "5m" << qint64(300000);
    QTest::newRow("h") << "2h" << qint64(7200000);
    QTest::newRow("decimal s") << "1.5s" << qint64(1500);
    QTest::newRow("decimal m") << "0.5m" << qint64(30000);
    QTest::newRow("decimal ms rounds") << "0.6ms" << qint64(1);
    QTest::newRow("unitless") << "30" << qint64(-1);
    QTest::newRow("unit only") << "s" << qint64(-1);
    QTest::newRow("empty") << "" << qint64(-1);
    QTest::newRow("negative") << "-1s" << qint64(-1);
    QTest::newRow("days") << "1d" << qint64(-1);
    QTest::newRow("space before the unit") << "30 s" << qint64(-1);
    QTest::newRow("upper case unit") << "30S" << qint64(-1);
    QTest::newRow("two dots") << "1.5.2s" << qint64(-1);
    QTest::newRow("exponent") << "1e3ms" << qint64(-1);
    QTest::newRow("word") << "soon" << qint64(-1);
    QTest::newRow("absurdly long") << "99999999999999h" << qint64(-1);
    QTest::newRow("365 days, the longest") << "8760h" << qint64(8760) * 3600 * 1000;
    QTest::newRow("past 365 days") << "8760.5h" << qint64(-1);
    QTest::newRow("wraps ms * 1e6") << "2562048h" << qint64(-1);
}

void tst_ScriptLoader::parseDuration()
{
    QFETCH(QString, text);
    QFETCH(qint64, ms);
    const auto parsed = ScriptLoader::parseDuration(text);
    QCOMPARE(parsed.value_or(-1), ms);
    QCOMPARE(parsed.has_value(), ms >= 0);
}

void tst_ScriptLoader::parseSize_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<qint64>("bytes"); // -1: rejected

    QTest::newRow("B") << "512B" << qint64(512);
    QTest::newRow("KiB") << "64KiB" << qint64(64 * 1024);
    QTest::newRow("MiB") << "32MiB" << qint64(32 * 1024 * 1024);
    QTest::newRow("GiB") << "1GiB" << (qint64(1) << 30);
    QTest::newRow("decimal") << "1.5KiB" << qint64(1536);
    QTest::newRow("zero") << "0KiB" << qint64(-1);
    QTest::newRow("unitless") << "1024" << qint64(-1);
    QTest::newRow("SI unit") << "64KB" << qint64(-1);
    QTest::newRow("lower case") << "64kib" << qint64(-1);
    QTest::newRow("negative") << "-1MiB" << qint64(-1);
    QTest::newRow("space") << "64 MiB" << qint64(-1);
    QTest::newRow("empty") << "" << qint64(-1);
    QTest::newRow("unit only") << "MiB" << qint64(-1);
}

void tst_ScriptLoader::parseSize()
{
    QFETCH(QString, text);
    QFETCH(qint64, bytes);
    QCOMPARE(ScriptLoader::parseSize(text).value_or(-1), bytes);
}

void tst_ScriptLoader::parseArg_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<QString>("key");
    QTest::addColumn<QString>("value");

    QTest::newRow("simple") << "who=world" << true << "who"
                            << "world";
    QTest::newRow("underscore and digits") << "_a_1=x" << true << "_a_1"
                                           << "x";
    QTest::newRow("empty value") << "flag=" << true << "flag"
                                 << "";
    QTest::newRow("= in the value") << "q=a=b" << true << "q"
                                    << "a=b";
    QTest::newRow("spaces kept in the value") << "msg= hi there " << true << "msg"
                                              << " hi there ";
    QTest::newRow("no =") << "who" << false << ""
                          << "";
    QTest::newRow("no key") << "=x" << false << ""
                            << "";
    QTest::newRow("key starts with a digit") << "1a=x" << false << ""
                                             << "";
    QTest::newRow("dash in the key") << "a-b=x" << false << ""
                                     << "";
    QTest::newRow("space in the key") << "a b=x" << false << ""
                                      << "";
    QTest::newRow("empty") << "" << false << ""
                           << "";
}

void tst_ScriptLoader::parseArg()
{
    QFETCH(QString, text);
    QFETCH(bool, valid);
    QFETCH(QString, key);
    QFETCH(QString, value);

    const auto parsed = ScriptLoader::parseArg(text);
    QCOMPARE(parsed.has_value(), valid);
    if (valid) {
        QCOMPARE(parsed->first, key);
        QCOMPARE(parsed->second, value);
    }
}

// ---- overrides ----

void tst_ScriptLoader::overridesReplaceDirectivesAndArgsOfTheSameKey()
{
    ScriptDir dir;
    TaskSpec spec = dir.spec(QStringLiteral("t.lua"),
                             "-- @priority 1\n-- @group net\n-- @timeout 1s\n-- @retries 2\n"
                             "-- @memory 1MiB\n-- @arg who=script\n-- @arg keep=1\nreturn 1\n");
    if (QTest::currentTestFailed())
        return;
    SubmitOverrides overrides;
    overrides.priority = -3;
    overrides.group = QStringLiteral("batch");
    overrides.timeoutMs = 250;
    overrides.retries = 0;
    overrides.retryDelayMs = 0;
    overrides.memoryBytes = 2048;
    overrides.args = {{QStringLiteral("who"), QStringLiteral("cli")},
                      {QStringLiteral("extra"), QStringLiteral("e")}};
    overrides.applyTo(spec);

    QCOMPARE(spec.priority, -3);
    QCOMPARE(spec.group, QStringLiteral("batch"));
    QCOMPARE(spec.timeoutMs, qint64(250));
    QCOMPARE(spec.retries, 0);
    QCOMPARE(spec.retryDelayMs, qint64(0));
    QCOMPARE(spec.memoryBytes, qint64(2048));
    const Args expected{{"keep", "1"}, {"who", "cli"}, {"extra", "e"}};
    QCOMPARE(spec.args, expected);
}

void tst_ScriptLoader::emptyOverridesChangeNothing()
{
    ScriptDir dir;
    const TaskSpec original =
        dir.spec(QStringLiteral("t.lua"), "-- @priority 4\n-- @group g\n-- @timeout 2s\n"
                                          "-- @arg a=1\nreturn 1\n");
    if (QTest::currentTestFailed())
        return;
    TaskSpec spec = original;
    SubmitOverrides().applyTo(spec);
    QCOMPARE(spec.priority, original.priority);
    QCOMPARE(spec.group, original.group);
    QCOMPARE(spec.timeoutMs, original.timeoutMs);
    QCOMPARE(spec.retries, original.retries);
    QCOMPARE(spec.retryDelayMs, original.retryDelayMs);
    QCOMPARE(spec.memoryBytes, original.memoryBytes);
    QCOMPARE(spec.args, original.args);
}

// SPEC section 9: `@deadlock warn` only logs a deadlock; `fail` (the default) fails the task.
void tst_ScriptLoader::deadlockDirectiveIsFailOrWarn()
{
    ScriptDir dir;
    auto load = [&](const QByteArray &content) {
        return ScriptLoader::load(dir.write(QStringLiteral("d.lua"), content));
    };
    QCOMPARE(load("return 1\n").spec->deadlockWarn, false);
    QCOMPARE(load("-- @deadlock fail\n").spec->deadlockWarn, false);
    QCOMPARE(load("-- @deadlock warn\n").spec->deadlockWarn, true);
    const auto bad = load("-- @name x\n-- @deadlock maybe\n");
    QVERIFY(!bad.spec);
    QCOMPARE(bad.error, dir.path() + QStringLiteral("/d.lua:2: @deadlock must be fail or warn, "
                                                    "not \"maybe\""));
}

QTEST_GUILESS_MAIN(tst_ScriptLoader)
#include "tst_scriptloader.moc"
