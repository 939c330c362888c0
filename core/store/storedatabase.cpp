#include "storedatabase.h"

#include "storecodec.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QSqlError>
#include <QSqlQuery>

#include <algorithm>
#include <atomic>

namespace {

// SQLite's primary result codes that mean "this file is damaged or not a database".
constexpr int SqliteCorrupt = 11;
constexpr int SqliteNotADatabase = 26;

const QString ConnectionPrefix = QStringLiteral("taskdeck-store-");

const char *const TaskColumns =
    "id, spec_id, priority, sequence, state, attempt, max_attempts, submitted_at, "
    "started_at, finished_at, progress, status, result, error, stack, log_tail";

const char *const Schema[] = {
    "CREATE TABLE specs ("
    " id INTEGER PRIMARY KEY,"
    " file TEXT,"
    " kind TEXT NOT NULL,"
    " command TEXT,"
    " name TEXT,"
    " group_name TEXT,"
    " priority INTEGER NOT NULL,"
    " timeout_ms INTEGER NOT NULL,"
    " retries INTEGER NOT NULL,"
    " retry_delay_ms INTEGER NOT NULL,"
    " memory_bytes INTEGER NOT NULL,"
    " args TEXT,"
    " source BLOB)",
    "CREATE TABLE tasks ("
    " id INTEGER PRIMARY KEY,"
    " spec_id INTEGER NOT NULL REFERENCES specs(id),"
    " priority INTEGER NOT NULL,"
    " sequence INTEGER,"
    " state TEXT NOT NULL,"
    " attempt INTEGER NOT NULL,"
    " max_attempts INTEGER NOT NULL,"
    " submitted_at INTEGER,"
    " started_at INTEGER,"
    " finished_at INTEGER,"
    " progress REAL,"
    " status TEXT,"
    " result TEXT,"
    " error TEXT,"
    " stack TEXT,"
    " log_tail TEXT,"
    " transitions TEXT NOT NULL DEFAULT '')",
    // forget() asks whether a spec is still used.
    "CREATE INDEX tasks_by_spec ON tasks(spec_id)",
    // recover() reads these states; the finished rest only through tasks_by_finish.
    "CREATE INDEX tasks_to_recover ON tasks(state)"
    " WHERE state = 'pending' OR state = 'running' OR state = 'interrupted'",
    "CREATE INDEX tasks_by_finish ON tasks(finished_at) WHERE finished_at IS NOT NULL",
    // forgotten_max_id: the highest id forget() deleted, so that ids are never reused.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
};

int sqliteCode(const QSqlError &error)
{
    return error.nativeErrorCode().toInt() & 0xff;
}

bool isCorruption(const QSqlError &error)
{
    const int code = sqliteCode(error);
    return code == SqliteCorrupt || code == SqliteNotADatabase;
}

QString describe(const QSqlError &error)
{
    return error.databaseText().isEmpty() ? error.text() : error.databaseText();
}

QVariant timeValue(qint64 ms)
{
    return ms < 0 ? QVariant() : QVariant(ms);
}

QVariant textValue(const QString &text)
{
    return text.isEmpty() ? QVariant() : QVariant(text);
}

qint64 timeFrom(const QVariant &value)
{
    return value.isNull() ? -1 : value.toLongLong();
}

// Why `dir` cannot hold the store file `file`, or empty when it can. Creates `dir`
// when missing, and nothing else.
QString locationProblem(const QString &dir, const QString &file)
{
    if (!QFileInfo(dir).isDir() && !QDir().mkpath(dir)) {
        // The nearest existing ancestor tells why.
        QFileInfo existing(dir);
        while (!existing.exists() && existing.absolutePath() != existing.absoluteFilePath())
            existing = QFileInfo(existing.absolutePath());
        if (existing.exists() && !existing.isDir())
            return QStringLiteral("%1 is a file, not a directory").arg(existing.absoluteFilePath());
        if (existing.exists() && !existing.isWritable())
            return QStringLiteral("cannot create the directory %1 (%2 is not writable)")
                .arg(dir, existing.absoluteFilePath());
        return QStringLiteral("cannot create the directory %1").arg(dir);
    }
    const QFileInfo dirInfo(dir);
    if (!dirInfo.isDir())
        return QStringLiteral("%1 is not a directory").arg(dir);
    if (!dirInfo.isWritable())
        return QStringLiteral("the directory %1 is not writable").arg(dir);
    for (const QString &path :
         {file, file + QStringLiteral("-wal"), file + QStringLiteral("-shm")}) {
        const QFileInfo info(path);
        if (!info.exists())
            continue;
        if (info.isDir())
            return QStringLiteral("%1 is a directory").arg(path);
        if (!info.isReadable() || !info.isWritable())
            return QStringLiteral("%1 is not readable and writable").arg(path);
    }
    return {};
}

} // namespace

// The statements written per task use named placeholders: Qt Sql makes up a name for
// every positional one it binds, which costs more than SQLite's work on the row.
struct StoreDatabase::Statements
{
    explicit Statements(const QSqlDatabase &db)
        : insertSpec(db)
        , insertTask(db)
        , insertSubmitted(db)
        , updateTask{{QSqlQuery(db), QSqlQuery(db)}, {QSqlQuery(db), QSqlQuery(db)}}
        , updateLive(db)
        , storedTask(db)
        , specOfTask(db)
        , deleteTask(db)
        , deleteSpecIfUnused(db)
    {
    }

    // The query that failed, or nullptr.
    QSqlQuery *prepare()
    {
        // updateTask[stack][logTail]: the columns only some writes set.
        const QString update = QStringLiteral(
            "UPDATE tasks SET priority = :priority, sequence = :sequence, state = :state,"
            " attempt = :attempt, submitted_at = :submitted, started_at = :started,"
            " finished_at = :finished, progress = :progress, status = :status,"
            " result = :result, error = :error%1%2,"
            " transitions = ltrim(transitions || ifnull(' ' || :transitions, ''))"
            " WHERE id = :id");
        const QString stack = QStringLiteral(", stack = :stack");
        const QString logTail = QStringLiteral(", log_tail = :log");
        const std::pair<QSqlQuery *, QString> all[] = {
            {&insertSpec,
             QStringLiteral(
                 "INSERT INTO specs (file, kind, command, name, group_name, priority, timeout_ms,"
                 " retries, retry_delay_ms, memory_bytes, args, source)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")},
            // A task id is reused only when the store holds older tasks than the engine
            // was given back (Engine::restore continues after the highest id it got).
            {&insertTask,
             QStringLiteral(
                 "INSERT OR REPLACE INTO tasks (id, spec_id, priority, sequence, state, attempt,"
                 " max_attempts, submitted_at, started_at, finished_at, progress, status, result,"
                 " error, stack, log_tail, transitions)"
                 " VALUES (:id, :spec, :priority, :sequence, :state, :attempt, :maxAttempts,"
                 " :submitted, :started, :finished, :progress, :status, :result, :error, :stack,"
                 " :log, ifnull(:transitions, ''))")},
            {&insertSubmitted,
             QStringLiteral(
                 "INSERT OR REPLACE INTO tasks (id, spec_id, priority, state, attempt,"
                 " max_attempts, submitted_at, transitions)"
                 " VALUES (:id, :spec, :priority, 'pending', 0, :maxAttempts, :submitted,"
                 " :transitions)")},
            {&updateTask[0][0], update.arg(QString(), QString())},
            {&updateTask[0][1], update.arg(QString(), logTail)},
            {&updateTask[1][0], update.arg(stack, QString())},
            {&updateTask[1][1], update.arg(stack, logTail)},
            {&updateLive,
             QStringLiteral("UPDATE tasks SET stack = CASE WHEN ? THEN ? ELSE stack END,"
                            " log_tail = CASE WHEN ? THEN ? ELSE log_tail END WHERE id = ?")},
            {&storedTask,
             QStringLiteral("SELECT state, spec_id, log_tail FROM tasks WHERE id = ?")},
            {&specOfTask, QStringLiteral("SELECT spec_id FROM tasks WHERE id = ?")},
            {&deleteTask, QStringLiteral("DELETE FROM tasks WHERE id = ?")},
            {&deleteSpecIfUnused,
             QStringLiteral("DELETE FROM specs WHERE id = ?"
                            " AND NOT EXISTS (SELECT 1 FROM tasks WHERE spec_id = ?)")},
        };
        for (const auto &[query, sql] : all) {
            query->setForwardOnly(true);
            if (!query->prepare(sql))
                return query;
        }
        return nullptr;
    }

    QSqlQuery insertSpec;
    QSqlQuery insertTask;
    QSqlQuery insertSubmitted;
    QSqlQuery updateTask[2][2];
    QSqlQuery updateLive;
    QSqlQuery storedTask;
    QSqlQuery specOfTask;
    QSqlQuery deleteTask;
    QSqlQuery deleteSpecIfUnused;
};

StoreDatabase::StoreDatabase()
{
    static std::atomic<int> connections{0};
    m_connection = ConnectionPrefix + QString::number(++connections);
}

StoreDatabase::~StoreDatabase()
{
    close();
}

void StoreDatabase::close()
{
    m_statements.reset();
    m_db.close();
    m_db = QSqlDatabase();
    if (QSqlDatabase::contains(m_connection))
        QSqlDatabase::removeDatabase(m_connection);
}

bool StoreDatabase::fail(const QSqlQuery &query)
{
    m_lastError = describe(query.lastError());
    return false;
}

// ---- opening ----

TaskStore::OpenResult StoreDatabase::open(const QString &dataDir)
{
    close();
    const QString dir = QDir::cleanPath(QDir(dataDir).absolutePath());
    m_path = dir + u'/' + QLatin1String(TaskStore::fileName);
    auto failed = [this](const QString &reason) {
        close();
        return TaskStore::OpenResult{
            TaskStore::OpenStatus::Failed,
            QStringLiteral("cannot use %1: %2; running without a task store "
                           "(choose another with --data-dir DIR)")
                .arg(m_path, reason)};
    };
    if (const QString problem = locationProblem(dir, m_path); !problem.isEmpty())
        return failed(problem);

    QString problem;
    switch (connect(&problem)) {
    case Outcome::Ready:
        return {TaskStore::OpenStatus::Opened, {}};
    case Outcome::Unusable:
        return failed(problem);
    case Outcome::Corrupt:
        break;
    }
    close();
    QString moveError;
    const QString aside = moveAside(&moveError);
    if (aside.isEmpty())
        return failed(QStringLiteral("it is unreadable (%1) and cannot be moved aside (%2)")
                          .arg(problem, moveError));
    QString again;
    if (connect(&again) != Outcome::Ready)
        return failed(again);
    return {TaskStore::OpenStatus::Recreated,
            QStringLiteral("%1 was unreadable (%2): moved it to %3 and started an empty task "
                           "store")
                .arg(m_path, problem, aside)};
}

// Opens m_path, checks it and brings its schema up; on anything but Ready the caller
// closes.
StoreDatabase::Outcome StoreDatabase::connect(QString *problem)
{
    m_db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), m_connection);
    if (!m_db.isValid()) {
        *problem = QStringLiteral("the Qt SQLite driver is not available");
        return Outcome::Unusable;
    }
    m_db.setDatabaseName(m_path);
    m_db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=5000"));
    if (!m_db.open()) {
        *problem = describe(m_db.lastError());
        return isCorruption(m_db.lastError()) ? Outcome::Corrupt : Outcome::Unusable;
    }
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    auto scalar = [&](const char *sql, QVariant *value) {
        if (!query.exec(QString::fromLatin1(sql)))
            return false;
        *value = query.next() ? query.value(0) : QVariant();
        query.finish();
        return true;
    };
    auto queryFailed = [&] {
        *problem = describe(query.lastError());
        return isCorruption(query.lastError()) ? Outcome::Corrupt : Outcome::Unusable;
    };

    // Read before anything is written: a newer store is left exactly as it is.
    QVariant value;
    if (!scalar("PRAGMA user_version", &value))
        return queryFailed();
    const int version = value.toInt();
    if (version > SchemaVersion) {
        *problem = QStringLiteral("it was written by a newer Taskdeck (store version %1; this "
                                  "one knows up to %2)")
                       .arg(version)
                       .arg(SchemaVersion);
        return Outcome::Unusable;
    }
    if (!scalar("PRAGMA quick_check", &value))
        return queryFailed();
    if (value.toString() != u"ok") {
        *problem = QStringLiteral("quick_check: %1").arg(value.toString());
        return Outcome::Corrupt;
    }
    if (version == 0) {
        if (!scalar("SELECT count(*) FROM sqlite_master", &value))
            return queryFailed();
        if (value.toInt() > 0) {
            *problem = QStringLiteral("it is an SQLite database but not a Taskdeck task store");
            return Outcome::Corrupt;
        }
    }
    if (!scalar("PRAGMA journal_mode = WAL", &value))
        return queryFailed();
    if (value.toString() != u"wal")
        qWarning("taskdeck: %s: no write-ahead log (journal mode %s)", qPrintable(m_path),
                 qPrintable(value.toString()));
    if (!scalar("PRAGMA synchronous = NORMAL", &value))
        return queryFailed();
    if (version == 0) {
        if (const Outcome made = createSchema(problem); made != Outcome::Ready)
            return made;
    }
    return prepareStatements(problem);
}

StoreDatabase::Outcome StoreDatabase::createSchema(QString *problem)
{
    if (!m_db.transaction()) {
        *problem = describe(m_db.lastError());
        return Outcome::Unusable;
    }
    QSqlQuery query(m_db);
    for (const char *sql : Schema) {
        if (!query.exec(QString::fromLatin1(sql))) {
            *problem = QStringLiteral("cannot create the tables: ") + describe(query.lastError());
            m_db.rollback();
            return Outcome::Unusable;
        }
    }
    if (!query.exec(QStringLiteral("PRAGMA user_version = %1").arg(SchemaVersion)) ||
        !m_db.commit()) {
        *problem = QStringLiteral("cannot create the tables: ") + describe(query.lastError());
        m_db.rollback();
        return Outcome::Unusable;
    }
    return Outcome::Ready;
}

// Preparing every statement is also the check that the schema is readable.
StoreDatabase::Outcome StoreDatabase::prepareStatements(QString *problem)
{
    m_statements = std::make_unique<Statements>(m_db);
    if (QSqlQuery *failed = m_statements->prepare()) {
        const QSqlError error = failed->lastError();
        *problem = QStringLiteral("its tables cannot be read: ") + describe(error);
        m_statements.reset();
        switch (sqliteCode(error)) {
        case 5:  // SQLITE_BUSY
        case 6:  // SQLITE_LOCKED
        case 7:  // SQLITE_NOMEM
        case 10: // SQLITE_IOERR
        case 14: // SQLITE_CANTOPEN
            return Outcome::Unusable;
        default:
            return Outcome::Corrupt;
        }
    }
    return Outcome::Ready;
}

// Renames the store and its -wal/-shm to taskdeck.db.corrupt-YYYYMMDD-HHMMSS[-N] beside
// it; returns the new name of the store, or empty (and why in `error`).
QString StoreDatabase::moveAside(QString *error) const
{
    const QString stamp = QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss"));
    QString aside = m_path + QStringLiteral(".corrupt-") + stamp;
    for (int n = 2; QFileInfo::exists(aside) || QFileInfo::exists(aside + QStringLiteral("-wal"));
         ++n)
        aside = m_path + QStringLiteral(".corrupt-") + stamp + u'-' + QString::number(n);
    QFile file(m_path);
    if (!file.rename(aside)) {
        *error = file.errorString();
        return {};
    }
    for (const QString &suffix : {QStringLiteral("-wal"), QStringLiteral("-shm")}) {
        if (QFileInfo::exists(m_path + suffix) && !QFile::rename(m_path + suffix, aside + suffix))
            QFile::remove(m_path + suffix); // never pair a fresh store with an old log
    }
    return aside;
}

// ---- writing ----

bool StoreDatabase::begin()
{
    if (!m_statements) {
        m_lastError = QStringLiteral("the task store is not open");
        return false;
    }
    if (m_db.transaction())
        return true;
    m_lastError = describe(m_db.lastError());
    return false;
}

void StoreDatabase::rollback()
{
    m_db.rollback();
}

bool StoreDatabase::commit()
{
    if (m_db.commit())
        return true;
    m_lastError = describe(m_db.lastError());
    m_db.rollback();
    return false;
}

qint64 StoreDatabase::insertSpec(const TaskSpec &spec)
{
    QSqlQuery &q = m_statements->insertSpec;
    q.addBindValue(spec.file);
    q.addBindValue(StoreCodec::kindName(spec.kind));
    q.addBindValue(StoreCodec::stringsText(spec.command));
    q.addBindValue(spec.name);
    q.addBindValue(spec.group);
    q.addBindValue(spec.priority);
    q.addBindValue(spec.timeoutMs);
    q.addBindValue(spec.retries);
    q.addBindValue(spec.retryDelayMs);
    q.addBindValue(spec.memoryBytes);
    q.addBindValue(StoreCodec::argsText(spec.args));
    q.addBindValue(spec.source);
    if (!q.exec()) {
        fail(q);
        return 0;
    }
    const qint64 row = q.lastInsertId().toLongLong();
    q.finish();
    return row;
}

// The columns a snapshot gives, bound by name (see Statements).
static void bindSnapshot(QSqlQuery &q, const StoreDatabase::TaskRow &row)
{
    const TaskSnapshot &s = *row.values;
    q.bindValue(QStringLiteral(":id"), qint64(row.id));
    q.bindValue(QStringLiteral(":priority"), s.priority);
    q.bindValue(QStringLiteral(":sequence"), row.sequenceKnown ? QVariant(s.sequence) : QVariant());
    q.bindValue(QStringLiteral(":state"), taskStateName(s.state));
    q.bindValue(QStringLiteral(":attempt"), s.attempt);
    q.bindValue(QStringLiteral(":submitted"), timeValue(s.submittedAtMs));
    q.bindValue(QStringLiteral(":started"), timeValue(s.startedAtMs));
    q.bindValue(QStringLiteral(":finished"), timeValue(s.finishedAtMs));
    q.bindValue(QStringLiteral(":progress"), s.progress < 0 ? QVariant() : QVariant(s.progress));
    q.bindValue(QStringLiteral(":status"), textValue(s.status));
    q.bindValue(QStringLiteral(":result"), textValue(StoreCodec::resultText(s.result)));
    q.bindValue(QStringLiteral(":error"), textValue(s.error));
    q.bindValue(QStringLiteral(":transitions"), textValue(row.transitions));
}

bool StoreDatabase::insertTask(const TaskRow &row)
{
    if (!row.sequenceKnown && row.values->state == TaskState::Pending && row.values->attempt == 0 &&
        !row.stack && !row.logTail) {
        // Submitted, not yet published: what the submission tells.
        QSqlQuery &q = m_statements->insertSubmitted;
        q.bindValue(QStringLiteral(":id"), qint64(row.id));
        q.bindValue(QStringLiteral(":spec"), row.specRow);
        q.bindValue(QStringLiteral(":priority"), row.values->priority);
        q.bindValue(QStringLiteral(":maxAttempts"), row.values->maxAttempts);
        q.bindValue(QStringLiteral(":submitted"), timeValue(row.values->submittedAtMs));
        q.bindValue(QStringLiteral(":transitions"), row.transitions);
        if (!q.exec())
            return fail(q);
        q.finish();
        return true;
    }
    QSqlQuery &q = m_statements->insertTask;
    bindSnapshot(q, row);
    q.bindValue(QStringLiteral(":spec"), row.specRow);
    q.bindValue(QStringLiteral(":maxAttempts"), row.values->maxAttempts);
    q.bindValue(QStringLiteral(":stack"), textValue(row.stack.value_or(QString())));
    q.bindValue(QStringLiteral(":log"), textValue(row.logTail.value_or(QString())));
    if (!q.exec())
        return fail(q);
    q.finish();
    return true;
}

bool StoreDatabase::updateTask(const TaskRow &row)
{
    QSqlQuery &q = m_statements->updateTask[row.stack.has_value()][row.logTail.has_value()];
    bindSnapshot(q, row);
    if (row.stack)
        q.bindValue(QStringLiteral(":stack"), textValue(*row.stack));
    if (row.logTail)
        q.bindValue(QStringLiteral(":log"), textValue(*row.logTail));
    if (!q.exec())
        return fail(q);
    q.finish();
    return true;
}

bool StoreDatabase::updateLive(TaskId id, const std::optional<QString> &stack,
                               const std::optional<QString> &logTail)
{
    QSqlQuery &q = m_statements->updateLive;
    q.addBindValue(stack.has_value());
    q.addBindValue(textValue(stack.value_or(QString())));
    q.addBindValue(logTail.has_value());
    q.addBindValue(textValue(logTail.value_or(QString())));
    q.addBindValue(qint64(id));
    if (!q.exec())
        return fail(q);
    q.finish();
    return true;
}

std::optional<StoreDatabase::StoredTask> StoreDatabase::storedTask(TaskId id)
{
    QSqlQuery &q = m_statements->storedTask;
    q.addBindValue(qint64(id));
    if (!q.exec()) {
        fail(q);
        return std::nullopt;
    }
    std::optional<StoredTask> stored;
    if (q.next()) {
        stored = StoredTask{
            StoreCodec::stateFromName(q.value(0).toString()).value_or(TaskState::Pending),
            q.value(1).toLongLong(), StoreCodec::stringsFromText(q.value(2).toString())};
    }
    q.finish();
    return stored;
}

bool StoreDatabase::deleteTask(TaskId id, qint64 *specRow)
{
    QSqlQuery &spec = m_statements->specOfTask;
    spec.addBindValue(qint64(id));
    if (!spec.exec())
        return fail(spec);
    *specRow = spec.next() ? spec.value(0).toLongLong() : 0;
    spec.finish();
    QSqlQuery &q = m_statements->deleteTask;
    q.addBindValue(qint64(id));
    if (!q.exec())
        return fail(q);
    q.finish();
    QSqlQuery remember(m_db);
    remember.prepare(QStringLiteral("INSERT INTO meta (key, value) VALUES ('forgotten_max_id', ?)"
                                    " ON CONFLICT(key) DO UPDATE SET"
                                    " value = max(value, excluded.value)"));
    remember.addBindValue(qint64(id));
    if (!remember.exec())
        return fail(remember);
    return true;
}

bool StoreDatabase::deleteSpecIfUnused(qint64 specRow, bool *deleted)
{
    QSqlQuery &q = m_statements->deleteSpecIfUnused;
    q.addBindValue(specRow);
    q.addBindValue(specRow);
    if (!q.exec())
        return fail(q);
    *deleted = q.numRowsAffected() > 0;
    q.finish();
    return true;
}

// ---- recovering ----

std::optional<StoreDatabase::Recovered> StoreDatabase::recover(int historyLimit, qint64 nowMs,
                                                               bool deleteUnusedSpecs)
{
    if (!begin())
        return std::nullopt;
    auto abort = [this](const QSqlQuery &query) -> std::optional<Recovered> {
        fail(query);
        m_db.rollback();
        return std::nullopt;
    };
    QSqlQuery q(m_db);
    q.setForwardOnly(true);

    // Tasks that were running when Taskdeck stopped did not fail: they were interrupted.
    QSet<TaskId> interrupted;
    QStringList groups;
    if (!q.exec(QStringLiteral("SELECT t.id, s.group_name FROM tasks t"
                               " LEFT JOIN specs s ON s.id = t.spec_id"
                               " WHERE t.state = 'running'")))
        return abort(q);
    while (q.next()) {
        interrupted.insert(TaskId(q.value(0).toLongLong()));
        if (const QString group = q.value(1).toString();
            !group.isEmpty() && !groups.contains(group))
            groups.append(group);
    }
    q.finish();
    if (!interrupted.isEmpty()) {
        q.prepare(
            QStringLiteral("UPDATE tasks SET state = 'interrupted',"
                           " error = ?,"
                           " finished_at = ?, transitions = ltrim(transitions || ' ' || ?)"
                           " WHERE state = 'running'"));
        q.addBindValue(QStringLiteral("interrupted: Taskdeck stopped while it ran"));
        q.addBindValue(nowMs);
        q.addBindValue(QStringLiteral("interrupted@%1").arg(nowMs));
        if (!q.exec())
            return abort(q);
    }
    if (deleteUnusedSpecs &&
        !q.exec(QStringLiteral("DELETE FROM specs WHERE NOT EXISTS"
                               " (SELECT 1 FROM tasks WHERE tasks.spec_id = specs.id)")))
        return abort(q);

    struct Row
    {
        RestoredTask task;
        qint64 specRow = 0;
    };
    auto read = [](const QSqlQuery &q) {
        Row row;
        TaskSnapshot &s = row.task.snapshot;
        s.id = TaskId(q.value(0).toLongLong());
        row.specRow = q.value(1).toLongLong();
        s.priority = q.value(2).toInt();
        s.sequence = q.value(3).toLongLong();
        s.state = StoreCodec::stateFromName(q.value(4).toString()).value_or(TaskState::Failed);
        s.attempt = q.value(5).toInt();
        s.maxAttempts = q.value(6).toInt();
        s.submittedAtMs = timeFrom(q.value(7));
        s.startedAtMs = timeFrom(q.value(8));
        s.finishedAtMs = timeFrom(q.value(9));
        s.progress = q.value(10).isNull() ? -1 : q.value(10).toDouble();
        s.status = q.value(11).toString();
        s.result = StoreCodec::resultFromText(q.value(12).toString());
        s.error = q.value(13).toString();
        s.stack = StoreCodec::stackFromText(q.value(14).toString());
        row.task.log = StoreCodec::stringsFromText(q.value(15).toString());
        return row;
    };
    const QString columns = QString::fromLatin1(TaskColumns);

    // The history: the most recently finished, and every interrupted task, by id.
    std::vector<Row> finished;
    q.prepare(QStringLiteral("SELECT %1 FROM tasks WHERE finished_at IS NOT NULL"
                             " AND state NOT IN ('pending', 'running')"
                             " ORDER BY finished_at DESC, id DESC LIMIT ?")
                  .arg(columns));
    q.addBindValue(qMax(0, historyLimit));
    if (!q.exec())
        return abort(q);
    QSet<TaskId> seen;
    while (q.next()) {
        finished.push_back(read(q));
        seen.insert(finished.back().task.snapshot.id);
    }
    q.finish();
    if (!q.exec(QStringLiteral("SELECT %1 FROM tasks WHERE state = 'interrupted'").arg(columns)))
        return abort(q);
    while (q.next()) {
        if (!seen.contains(TaskId(q.value(0).toLongLong())))
            finished.push_back(read(q));
    }
    q.finish();
    std::sort(finished.begin(), finished.end(),
              [](const Row &a, const Row &b) { return a.task.snapshot.id < b.task.snapshot.id; });

    // The queue, in the engine's order: priority, then sequence (never published: last).
    std::vector<Row> pending;
    if (!q.exec(QStringLiteral("SELECT %1 FROM tasks WHERE state = 'pending'"
                               " ORDER BY priority DESC, sequence IS NULL, sequence, id")
                    .arg(columns)))
        return abort(q);
    while (q.next())
        pending.push_back(read(q));
    q.finish();

    // One TaskSpec per spec row, shared by its tasks.
    QHash<qint64, std::shared_ptr<const TaskSpec>> specs;
    q.prepare(QStringLiteral("SELECT file, kind, command, name, group_name, priority,"
                             " timeout_ms, retries, retry_delay_ms, memory_bytes, args, source"
                             " FROM specs WHERE id = ?"));
    auto specOf = [&](qint64 row) -> std::shared_ptr<const TaskSpec> {
        if (auto it = specs.constFind(row); it != specs.constEnd())
            return *it;
        std::shared_ptr<const TaskSpec> made;
        q.addBindValue(row);
        if (q.exec() && q.next()) {
            auto spec = std::make_shared<TaskSpec>();
            spec->file = q.value(0).toString();
            spec->kind = StoreCodec::kindFromName(q.value(1).toString()).value_or(ScriptKind::Lua);
            spec->command = StoreCodec::stringsFromText(q.value(2).toString());
            spec->name = q.value(3).toString();
            spec->group = q.value(4).toString();
            spec->priority = q.value(5).toInt();
            spec->timeoutMs = q.value(6).toLongLong();
            spec->retries = q.value(7).toInt();
            spec->retryDelayMs = q.value(8).toLongLong();
            spec->memoryBytes = q.value(9).toLongLong();
            spec->args = StoreCodec::argsFromText(q.value(10).toString());
            spec->source = q.value(11).toByteArray();
            made = std::move(spec);
        }
        q.finish();
        specs.insert(row, made); // a missing row stays missing
        return made;
    };

    Recovered out;
    TaskStore::Recovery &recovery = out.recovery;
    recovery.tasks.reserve(qsizetype(finished.size() + pending.size()));
    auto take = [&](Row &row) {
        row.task.spec = specOf(row.specRow);
        if (!row.task.spec)
            return false; // nothing to run or show without its definition
        TaskSnapshot &s = row.task.snapshot;
        s.name = row.task.spec->name;
        s.file = row.task.spec->file;
        s.group = row.task.spec->group;
        s.kind = row.task.spec->kind;
        recovery.tasks.append(std::move(row.task));
        out.specRows.append(row.specRow);
        return true;
    };
    for (Row &row : finished) {
        const bool isNew = interrupted.contains(row.task.snapshot.id);
        if (take(row)) {
            ++recovery.finished;
            recovery.interrupted += isNew ? 1 : 0;
        }
    }
    for (Row &row : pending)
        recovery.pending += take(row) ? 1 : 0;
    recovery.interruptedGroups = groups;
    // Ids are never used twice, even those of tasks left out of the history or forgotten.
    if (!q.exec(QStringLiteral("SELECT max(coalesce((SELECT MAX(id) FROM tasks), 0),"
                               " coalesce((SELECT value FROM meta"
                               " WHERE key = 'forgotten_max_id'), 0))")))
        return abort(q);
    if (q.next())
        recovery.lastId = TaskId(q.value(0).toLongLong());
    q.finish();
    if (!commit())
        return std::nullopt;
    return out;
}
