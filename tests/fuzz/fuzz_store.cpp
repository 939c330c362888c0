// libFuzzer harness: the task store's recovery from damaged files. The input is copied
// to taskdeck.db in an empty temporary directory, which is opened as a store and read
// back (TaskStore::open, recover), then written to once. Must never crash, hang or leak;
// a file it calls unreadable must be moved aside (taskdeck.db.corrupt-*) with a fresh
// store in its place, and a file it cannot use must be left exactly as it was.
#include "store/taskstore.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QTemporaryDir>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

void check(bool condition, const char *what, const QString &detail = {})
{
    if (!condition) {
        fprintf(stderr, "fuzz_store: %s %s\n", what, qPrintable(detail));
        abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static QCoreApplication app(*argc, *argv);
    // The store warns of every damaged file on stderr: expected here, and slow.
    qputenv("QT_LOGGING_RULES", "*.warning=false");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    QTemporaryDir dir;
    check(dir.isValid(), "no temporary directory");
    const QString path = dir.filePath(QLatin1String(TaskStore::fileName));
    {
        QFile file(path);
        check(file.open(QIODevice::WriteOnly), "cannot write", path);
        file.write(reinterpret_cast<const char *>(data), qint64(size));
    }
    TaskStore store;
    const TaskStore::OpenResult opened = store.open(dir.path());
    const QStringList aside = QDir(dir.path()).entryList({QStringLiteral("taskdeck.db.corrupt-*")});
    switch (opened.status) {
    case TaskStore::OpenStatus::Opened:
        check(aside.isEmpty(), "a file opened and moved aside");
        break;
    case TaskStore::OpenStatus::Recreated:
        check(aside.size() == 1 && QFile::exists(path), "an unreadable file not moved aside",
              opened.message);
        check(opened.message.contains(aside.constFirst()), "a message that does not name it",
              opened.message);
        break;
    case TaskStore::OpenStatus::Failed:
        // Left alone (a store of a newer Taskdeck, say): nothing moved, nothing changed.
        check(opened.message.contains(path), "a failure that does not name the file",
              opened.message);
        check(aside.isEmpty() && QFile(path).size() == qint64(size),
              "a file left alone was changed", opened.message);
        return 0;
    }
    const TaskStore::Recovery recovery = store.recover(100);
    check(recovery.pending + recovery.finished == recovery.tasks.size(),
          "a recovery that does not add up");
    // Writing after whatever it read (a damaged file may refuse it: that is reported,
    // not a crash).
    auto spec = std::make_shared<const TaskSpec>();
    store.submitted({recovery.lastId + 1}, {spec}, 1);
    store.sync();
    return 0;
}
