// libFuzzer harness: the script loader on arbitrary bytes. The first byte picks how the
// file is named (.lua, .sh, .py, none); the rest is the file. Also the directive value
// parsers on the whole input as text. Must never crash, hang or leak, and must either
// give a spec or a one-line error naming the file.
#include "scriptloader.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QTemporaryDir>

#include <cstdint>
#include <cstdlib>

namespace {

QTemporaryDir *dir = nullptr;

void check(bool condition, const char *what)
{
    if (!condition) {
        fprintf(stderr, "fuzz_scriptloader: %s\n", what);
        abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static QCoreApplication app(*argc, *argv);
    dir = new QTemporaryDir;
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    static const char *const suffixes[] = {"task.lua", "task.sh", "task.py", "task"};
    const QString path = dir->filePath(QString::fromLatin1(suffixes[data[0] % 4]));
    const QByteArray bytes(reinterpret_cast<const char *>(data + 1), qsizetype(size - 1));
    {
        QFile file(path);
        check(file.open(QIODevice::WriteOnly | QIODevice::Truncate), "cannot write the file");
        file.write(bytes);
    }
    const ScriptLoader::Result result = ScriptLoader::load(path);
    if (result.spec) {
        check(result.error.isEmpty(), "a spec with an error");
        check(!result.spec->file.isEmpty(), "a spec without its file");
    } else {
        check(result.error.startsWith(path), "an error that does not name the file");
        check(!result.error.contains(u'\n'), "an error of more than one line");
    }
    QFile::remove(path);

    const QString text = QString::fromUtf8(bytes);
    if (const auto ms = ScriptLoader::parseDuration(text))
        check(*ms >= 0, "a negative duration");
    if (const auto bytesValue = ScriptLoader::parseSize(text))
        check(*bytesValue >= 0, "a negative size");
    ScriptLoader::parseArg(text);
    return 0;
}
