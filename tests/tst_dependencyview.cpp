// Dependencies on the dashboard (issue 18): the Depends on column, the rows highlighted
// for the current task, the cancel that says how many tasks go with it, and Run after...
// over a real engine with a run kind the test drives (FakeRunFactory).
#include "fakerun.h"
#include "testsupport.h"

#include "localtasksource.h"
#include "taskfilterproxymodel.h"
#include "tasktablemodel.h"
#include "taskview.h"

#include <QAction>
#include <QApplication>
#include <QItemSelectionModel>
#include <QSignalSpy>
#include <QTest>

namespace {

TaskSpec spec(const QString &name)
{
    TaskSpec s;
    s.file = QStringLiteral("/fake/") + name;
    s.name = name;
    return s;
}

DependencyOptions after(const QList<TaskId> &ids, bool anyEnd = false)
{
    DependencyOptions d;
    (anyEnd ? d.afterEnded : d.after) = ids;
    return d;
}

// A view over `engine` fed with the source's batches, as the window feeds it.
struct Fixture
{
    explicit Fixture(Engine *engine)
        : source(engine)
        , view(&source)
    {
        QObject::connect(&source, &TaskSource::batch, &view,
                         [this](const TaskSourceBatch &batch) { view.applyUpdate(batch.update); });
    }
    void select(TaskId id)
    {
        const QModelIndex index =
            view.filterModel()->mapFromSource(view.taskModel()->index(model().rowOf(id), 0));
        view.selectionModel()->setCurrentIndex(index, QItemSelectionModel::ClearAndSelect |
                                                          QItemSelectionModel::Rows);
    }
    const TaskTableModel &model() const { return *view.taskModel(); }
    QVariant cell(TaskId id, int column, int role = Qt::DisplayRole) const
    {
        return model().index(model().rowOf(id), column).data(role);
    }
    LocalTaskSource source;
    TaskView view;
};

Engine::Options options(const std::shared_ptr<FakeRunFactory> &fake)
{
    return Engine::Options{.publishIntervalMs = 20, .runFactory = fake};
}

} // namespace

class tst_DependencyView : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void dependsOnColumnShowsWhatATaskWaitsFor()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake));
        engine.pause();
        Fixture f(&engine);
        const TaskId a = engine.submit(spec("a"));
        const TaskId b = engine.submit(spec("b"));
        const TaskId c = engine.submit({{spec("c"), 1}}, after({a})).constFirst();
        const TaskId d = engine.submit({{spec("d"), 1}}, after({a, b}, true)).constFirst();
        QTRY_VERIFY(f.model().rowOf(d) >= 0);
        QCOMPARE(f.model().headerData(TaskTableModel::DependsOn, Qt::Horizontal).toString(),
                 QStringLiteral("Depends on"));
        QCOMPARE(f.cell(a, TaskTableModel::DependsOn).toString(), QString());
        QCOMPARE(f.cell(c, TaskTableModel::DependsOn).toString(), QStringLiteral("#%1").arg(a));
        QCOMPARE(f.cell(d, TaskTableModel::DependsOn).toString(),
                 QStringLiteral("#%1 (any end), #%2 (any end)").arg(a).arg(b));
    }

    void selectingATaskHighlightsWhatItWaitsForAndWhatWaitsForIt()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake));
        engine.pause();
        Fixture f(&engine);
        const TaskId a = engine.submit(spec("a"));
        const TaskId b = engine.submit({{spec("b"), 1}}, after({a})).constFirst();
        const TaskId c = engine.submit({{spec("c"), 1}}, after({b})).constFirst();
        const TaskId other = engine.submit(spec("other"));
        QTRY_VERIFY(f.model().rowOf(other) >= 0);
        QVERIFY(!f.cell(a, TaskTableModel::Name, Qt::BackgroundRole).isValid());
        f.select(b);
        QVERIFY(f.cell(a, TaskTableModel::Name, Qt::BackgroundRole).isValid());
        QVERIFY(f.cell(c, TaskTableModel::Name, Qt::BackgroundRole).isValid());
        QVERIFY(!f.cell(b, TaskTableModel::Name, Qt::BackgroundRole).isValid());
        QVERIFY(!f.cell(other, TaskTableModel::Name, Qt::BackgroundRole).isValid());
        f.select(other);
        QVERIFY(!f.cell(a, TaskTableModel::Name, Qt::BackgroundRole).isValid());
        QVERIFY(!f.cell(c, TaskTableModel::Name, Qt::BackgroundRole).isValid());
    }

    void cancellingATaskOthersWaitForSaysHowManyGoWithIt()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake));
        engine.pause();
        Fixture f(&engine);
        const TaskId a = engine.submit(spec("a"));
        const TaskId b = engine.submit({{spec("b"), 1}}, after({a})).constFirst();
        const TaskId c = engine.submit({{spec("c"), 1}}, after({b})).constFirst();
        const TaskId anyEnd = engine.submit({{spec("e"), 1}}, after({a}, true)).constFirst();
        QTRY_VERIFY(f.model().rowOf(anyEnd) >= 0);
        QStringList asked;
        bool answer = false;
        f.view.setCancelConfirmation([&](const QString &question) {
            asked.append(question);
            return answer;
        });
        f.select(a);
        f.view.action(TaskView::Cancel)->trigger();
        QCOMPARE(asked, QStringList{"Cancel 1 task? 2 tasks waiting for them will be cancelled "
                                    "with them."});
        engine.flush();
        QCOMPARE(stateOf(engine, a), TaskState::Pending); // the user said no
        answer = true;
        f.view.action(TaskView::Cancel)->trigger();
        QTRY_COMPARE(stateOf(engine, c), TaskState::Cancelled);
        QCOMPARE(stateOf(engine, a), TaskState::Cancelled);
        QCOMPARE(stateOf(engine, b), TaskState::Cancelled);
        QCOMPARE(stateOf(engine, anyEnd), TaskState::Pending); // any end will do for it
        // A task nothing waits for is cancelled without a question.
        QTRY_COMPARE(f.cell(c, TaskTableModel::State, TaskTableModel::StateRole).toInt(),
                     int(TaskState::Cancelled));
        f.select(anyEnd);
        f.view.action(TaskView::Cancel)->trigger();
        QCOMPARE(asked.size(), 2);
        QTRY_COMPARE(stateOf(engine, anyEnd), TaskState::Cancelled);
    }

    void runAfterMakesTheSelectedPendingTasksWaitOrSaysWhyNot()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake));
        engine.pause();
        Fixture f(&engine);
        const TaskId a = engine.submit(spec("a"));
        const TaskId b = engine.submit(spec("b"));
        QTRY_VERIFY(f.model().rowOf(b) >= 0);
        QList<TaskId> offered;
        TaskDependencies pick{{a, false}};
        f.view.setDependencyPicker([&](const QList<TaskId> &waiting) {
            offered = waiting;
            return std::optional<TaskDependencies>(pick);
        });
        f.select(b);
        QVERIFY(f.view.action(TaskView::RunAfter)->isEnabled());
        f.view.action(TaskView::RunAfter)->trigger();
        QCOMPARE(offered, QList<TaskId>{b});
        QTRY_COMPARE(engine.task(b)->dependencies, (TaskDependencies{{a, false}}));
        QTRY_COMPARE(f.cell(b, TaskTableModel::DependsOn).toString(), QStringLiteral("#%1").arg(a));

        QSignalSpy messages(&f.view, &TaskView::statusMessage);
        pick = {{b, false}};
        f.select(a);
        f.view.action(TaskView::RunAfter)->trigger();
        QTRY_COMPARE(messages.size(), 1);
        QCOMPARE(messages.at(0).at(0).toString(),
                 QStringLiteral("Run after refused: dependency #%1 would make a cycle: #%1 "
                                "waits for #%2")
                     .arg(b)
                     .arg(a));
        QVERIFY(engine.task(a)->dependencies.isEmpty());
        engine.resume();
        QTRY_COMPARE(fake->started(), QList<TaskId>{a});
    }
};

QTEST_MAIN(tst_DependencyView)
#include "tst_dependencyview.moc"
